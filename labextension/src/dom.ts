/** A small helper to build DOM nodes: h('button', {class: 'x', onclick: f}, 'Label'). */

export type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, unknown>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value as EventListener);
    } else if (key === 'class') {
      el.className = String(value);
    } else if (key === 'dataset') {
      Object.assign(el.dataset, value as Record<string, string>);
    } else if (key in PROPS) {
      (el as unknown as Record<string, unknown>)[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

/** Set as properties, not attributes (their live state). */
const PROPS: Record<string, true> = {
  value: true,
  checked: true,
  disabled: true,
  selected: true,
  textContent: true
};

export function append(el: HTMLElement, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) {
      continue;
    }
    el.append(typeof c === 'object' ? c : String(c));
  }
}

/** "12 s", "5 min", "3 h", "2 d" since an ISO time. */
export function age(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) {
    return '';
  }
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) {
    return `${s} s`;
  }
  if (s < 3600) {
    return `${Math.floor(s / 60)} min`;
  }
  if (s < 86400) {
    return `${Math.floor(s / 3600)} h`;
  }
  return `${Math.floor(s / 86400)} d`;
}

/** A status badge: NEW, INPROGRESS, RUNNING, FINISHED, FAILED, ... */
export function badge(status: string): HTMLElement {
  return h(
    'span',
    { class: `jp-bodo-badge jp-bodo-status-${status}`, 'data-status': status },
    status
  );
}

/** The nodes among `children` (for replaceChildren). */
export function nodes(...children: Child[]): (Node | string)[] {
  return children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false)
    .map(c => (typeof c === 'number' ? String(c) : c));
}

/** A row's name as the button that opens and closes its details (▸ / ▾). */
export function disclosure(
  name: string,
  open: boolean,
  key: string,
  onclick: () => void
): HTMLButtonElement {
  return h(
    'button',
    {
      class: 'jp-bodo-disclosure',
      'aria-expanded': String(open),
      'aria-label': `Details of ${name}`,
      title: open ? 'Hide details' : 'Details',
      'data-key': key,
      onclick
    },
    h('span', { class: 'jp-bodo-caret', 'aria-hidden': 'true' }, open ? '▾' : '▸'),
    name
  );
}
