/** A declared form (generated/forms.ts, from bodo_jupyter/contract/forms.py) as HTML:
 * labels, help, live choices (choices_from), show_if, "Show advanced", and the API's
 * field errors under the field they name. */

import { APIError } from './api';
import { h, nodes } from './dom';
import type { FormField, FormSpec } from './generated/forms';

export interface Choice {
  value: string;
  label: string;
}

/** Raised by a choices source when the list cannot be had: the form shows `message`
 * (and a link, when `action` is given) instead of an empty list. */
export class ChoicesUnavailable extends Error {
  constructor(
    message: string,
    readonly action?: { label: string; run: () => void }
  ) {
    super(message);
  }
}

/** The live lists a form's choice fields name (instance_types, providers, ...), given
 * the values the form has now. */
export type ChoicesSource = (
  from: string,
  values: Record<string, unknown>,
  form: string
) => Promise<Choice[]>;

export type Values = Record<string, unknown>;

/** The form field an error about `apiPath` belongs to: the field whose `api` path is the
 * longest that equals it or prefixes it at a dot (Form.field_for's rule). */
export function fieldFor(spec: FormSpec, apiPath?: string | null): FormField | null {
  if (!apiPath) {
    return null;
  }
  let best: FormField | null = null;
  for (const f of spec.fields) {
    if (apiPath === f.api || apiPath.startsWith(f.api + '.')) {
      if (!best || f.api.length > best.api.length) {
        best = f;
      }
    }
  }
  return best;
}

/** Set `value` at a dotted path of `obj` (cluster.instance_type). */
export function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur = obj;
  for (const p of parts.slice(0, -1)) {
    if (typeof cur[p] !== 'object' || cur[p] === null) {
      cur[p] = {};
    }
    cur = cur[p] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]] = value;
}

type Input = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

export interface FormViewOptions {
  choices: ChoicesSource;
  submitLabel?: string;
  /** Send the form; an APIError it throws is shown on its field. */
  onSubmit: (values: Values, form: FormView) => Promise<void>;
  onCancel?: () => void;
  /** Text shown before a field's input (the job command's `mpiexec -n <CORE_COUNT> python`). */
  prefixes?: Record<string, string>;
  /** Overrides of declared defaults (the provider's max instances, ...). */
  limits?: (field: FormField) => { maximum?: number } | undefined;
}

export class FormView {
  readonly node: HTMLFormElement;
  private inputs = new Map<string, Input>();
  private rows = new Map<string, HTMLElement>();
  private errors = new Map<string, HTMLElement>();
  private notes = new Map<string, HTMLElement>();
  private formError: HTMLElement;
  private submit: HTMLButtonElement;
  private advancedToggle: HTMLButtonElement | null = null;
  private showAdvanced = false;
  private choiceGen = 0;

  constructor(
    readonly spec: FormSpec,
    private opts: FormViewOptions
  ) {
    const id = `jp-bodo-form-${spec.name}`;
    this.formError = h('div', { class: 'jp-bodo-form-error', role: 'alert' });
    this.submit = h(
      'button',
      { type: 'submit', class: 'jp-mod-styled jp-mod-accept jp-bodo-submit' },
      opts.submitLabel ?? 'Create'
    );
    const fields = spec.fields.map(f => this.row(f, id));
    const hasAdvanced = spec.fields.some(f => f.advanced);
    if (hasAdvanced) {
      this.advancedToggle = h(
        'button',
        {
          type: 'button',
          class: 'jp-bodo-link jp-bodo-advanced-toggle',
          'aria-expanded': 'false',
          onclick: () => this.toggleAdvanced()
        },
        'Show advanced'
      );
    }
    this.node = h(
      'form',
      {
        class: 'jp-bodo-form',
        'aria-label': spec.title,
        'data-form': spec.name,
        novalidate: true,
        onsubmit: (e: Event) => {
          e.preventDefault();
          void this.send();
        },
        onkeydown: (e: KeyboardEvent) => {
          if (e.key === 'Escape' && opts.onCancel) {
            e.preventDefault();
            opts.onCancel();
          }
        }
      },
      h('h3', { class: 'jp-bodo-form-title' }, spec.title),
      spec.help ? h('p', { class: 'jp-bodo-help' }, spec.help) : null,
      fields.filter((_, i) => !spec.fields[i].advanced),
      this.advancedToggle,
      fields.filter((_, i) => spec.fields[i].advanced),
      this.formError,
      h(
        'div',
        { class: 'jp-bodo-form-buttons' },
        opts.onCancel
          ? h(
              'button',
              {
                type: 'button',
                class: 'jp-mod-styled jp-mod-reject',
                onclick: () => opts.onCancel?.()
              },
              'Cancel'
            )
          : null,
        this.submit
      )
    );
    this.update();
    void this.refreshChoices();
  }

  input(name: string): Input | undefined {
    return this.inputs.get(name);
  }

  focus(): void {
    this.inputs.get(this.spec.fields[0].name)?.focus();
  }

  private row(f: FormField, formId: string): HTMLElement {
    const id = `${formId}-${f.name}`;
    const helpId = `${id}-help`;
    const errId = `${id}-error`;
    let input: Input;
    const common = {
      id,
      name: f.name,
      'aria-describedby': `${helpId} ${errId}`,
      'data-api': f.api,
      onchange: () => this.changed(f)
    };
    switch (f.kind) {
      case 'boolean':
        input = h('input', { ...common, type: 'checkbox', checked: f.default === true });
        break;
      case 'integer': {
        const max = this.opts.limits?.(f)?.maximum ?? f.maximum;
        input = h('input', {
          ...common,
          type: 'number',
          class: 'jp-mod-styled',
          min: f.minimum,
          max,
          step: 1,
          value: f.default !== undefined ? String(f.default) : ''
        });
        break;
      }
      case 'choice':
        input = h('select', { ...common, class: 'jp-mod-styled' });
        this.setChoices(
          f,
          input as HTMLSelectElement,
          (f.choices ?? []).map(c => ({ value: c, label: c }))
        );
        break;
      case 'pairs':
        input = h('textarea', {
          ...common,
          class: 'jp-mod-styled',
          rows: 3,
          placeholder: f.placeholder || 'NAME=value, one a line'
        });
        break;
      default:
        input = h('input', {
          ...common,
          type: f.kind === 'secret' ? 'password' : f.kind === 'datetime' ? 'datetime-local' : 'text',
          class: 'jp-mod-styled',
          placeholder: f.placeholder,
          autocomplete: f.kind === 'secret' ? 'new-password' : 'off',
          spellcheck: 'false'
        });
    }
    this.inputs.set(f.name, input);
    const error = h('div', { id: errId, class: 'jp-bodo-field-error', role: 'alert' });
    const note = h('div', { class: 'jp-bodo-field-note' });
    this.errors.set(f.name, error);
    this.notes.set(f.name, note);
    // The required mark is beside the label, not in it: the input's name stays the label.
    const label = h(
      'span',
      { class: 'jp-bodo-label-line' },
      h('label', { for: id, class: 'jp-bodo-label' }, f.label),
      f.required ? h('span', { class: 'jp-bodo-required', title: 'required' }, ' *') : null
    );
    if (f.required) {
      input.setAttribute('aria-required', 'true');
    }
    const prefix = this.opts.prefixes?.[f.name];
    const control = prefix
      ? h('div', { class: 'jp-bodo-prefixed' }, h('code', { class: 'jp-bodo-prefix' }, prefix), input)
      : input;
    const row =
      f.kind === 'boolean'
        ? h('div', { class: 'jp-bodo-field jp-bodo-field-boolean' }, input, label)
        : h('div', { class: 'jp-bodo-field' }, label, control);
    row.dataset.field = f.name;
    row.append(note, h('div', { id: helpId, class: 'jp-bodo-help' }, f.help), error);
    this.rows.set(f.name, row);
    return row;
  }

  private toggleAdvanced(): void {
    this.showAdvanced = !this.showAdvanced;
    if (this.advancedToggle) {
      this.advancedToggle.textContent = this.showAdvanced ? 'Hide advanced' : 'Show advanced';
      this.advancedToggle.setAttribute('aria-expanded', String(this.showAdvanced));
    }
    this.update();
  }

  private changed(f: FormField): void {
    this.clearError(f.name);
    this.update();
    if (f.kind === 'boolean' || f.kind === 'choice') {
      void this.refreshChoices(f.name);
    }
  }

  /** Is the field shown now (advanced toggle, show_if)? */
  visible(f: FormField): boolean {
    if (f.advanced && !this.showAdvanced) {
      return false;
    }
    for (const [other, want] of Object.entries(f.show_if ?? {})) {
      const v = this.raw(other);
      const wants = Array.isArray(want) ? want : [want];
      if (!wants.map(String).includes(String(v ?? ''))) {
        return false;
      }
    }
    return true;
  }

  private update(): void {
    for (const f of this.spec.fields) {
      this.rows.get(f.name)!.hidden = !this.visible(f);
    }
  }

  /** Fill choice fields from their live lists (all, or those after `changed`). */
  async refreshChoices(changed?: string): Promise<void> {
    const gen = ++this.choiceGen;
    const values = this.values();
    await Promise.all(
      this.spec.fields
        .filter(f => f.choices_from && f.name !== changed)
        .map(async f => {
          const select = this.inputs.get(f.name) as HTMLSelectElement;
          const note = this.notes.get(f.name)!;
          try {
            const choices = await this.opts.choices(f.choices_from!, values, this.spec.name);
            if (gen !== this.choiceGen) {
              return;
            }
            note.replaceChildren();
            note.classList.remove('jp-bodo-banner');
            this.setChoices(f, select, [
              ...(f.choices ?? []).map(c => ({ value: c, label: c })),
              ...choices
            ]);
          } catch (err) {
            if (gen !== this.choiceGen) {
              return;
            }
            this.setChoices(f, select, []);
            note.classList.add('jp-bodo-banner');
            const action = (err as ChoicesUnavailable).action;
            note.replaceChildren(
              ...nodes(h('span', {}, (err as Error).message),
              action
                ? h(
                    'button',
                    { type: 'button', class: 'jp-bodo-link', onclick: () => action.run() },
                    action.label
                  )
                : null)
            );
          }
        })
    );
  }

  private setChoices(f: FormField, select: HTMLSelectElement, choices: Choice[]): void {
    const before = select.value;
    const options: HTMLOptionElement[] = [];
    if (!f.required || choices.length === 0) {
      options.push(
        h('option', { value: '' }, choices.length ? '(default)' : '(none available)')
      );
    }
    for (const c of choices) {
      options.push(h('option', { value: c.value }, c.label));
    }
    select.replaceChildren(...options);
    if (choices.some(c => c.value === before)) {
      select.value = before;
    }
    select.dataset.loaded = 'true';
  }

  private raw(name: string): unknown {
    const input = this.inputs.get(name);
    if (!input) {
      return undefined;
    }
    if (input instanceof HTMLInputElement && input.type === 'checkbox') {
      return input.checked;
    }
    return input.value;
  }

  /** The values of the fields shown, typed by kind; empty inputs left out. */
  values(): Values {
    const out: Values = {};
    for (const f of this.spec.fields) {
      if (!this.visible(f)) {
        continue;
      }
      const raw = this.raw(f.name);
      if (f.kind === 'boolean') {
        out[f.name] = raw === true;
        continue;
      }
      const text = String(raw ?? '').trim();
      if (text === '') {
        continue;
      }
      if (f.kind === 'integer') {
        // Anything but an integer goes as typed: the API names the field and says why.
        out[f.name] = /^-?\d+$/.test(text) ? Number(text) : text;
      } else if (f.kind === 'pairs') {
        const pairs: Record<string, string> = {};
        for (const line of text.split('\n')) {
          const l = line.trim();
          if (!l) {
            continue;
          }
          const eq = l.indexOf('=');
          pairs[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
        }
        out[f.name] = pairs;
      } else if (f.kind === 'datetime') {
        const d = new Date(text);
        out[f.name] = isNaN(d.getTime()) ? text : d.toISOString();
      } else {
        out[f.name] = f.kind === 'secret' ? String(raw) : text;
      }
    }
    return out;
  }

  /** The request body: each value at its field's dotted `api` path. */
  body(values: Values = this.values()): Record<string, unknown> {
    const body: Record<string, unknown> = {};
    for (const f of this.spec.fields) {
      if (values[f.name] !== undefined) {
        setPath(body, f.api, values[f.name]);
      }
    }
    return body;
  }

  clearError(name?: string): void {
    for (const [n, el] of this.errors) {
      if (name === undefined || n === name) {
        el.textContent = '';
        this.inputs.get(n)?.removeAttribute('aria-invalid');
        this.rows.get(n)?.classList.remove('jp-mod-error');
      }
    }
    if (name === undefined) {
      this.formError.textContent = '';
    }
  }

  /** Show an error: under the field it names (when shown), else above the buttons. */
  showError(err: unknown): void {
    const field = err instanceof APIError ? fieldFor(this.spec, err.field) : null;
    const message = err instanceof Error ? err.message : String(err);
    if (field && this.visible(field)) {
      this.errors.get(field.name)!.textContent = message;
      this.rows.get(field.name)!.classList.add('jp-mod-error');
      const input = this.inputs.get(field.name)!;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } else {
      this.formError.textContent = field ? `${field.label}: ${message}` : message;
    }
  }

  private async send(): Promise<void> {
    this.clearError();
    this.submit.disabled = true;
    try {
      await this.opts.onSubmit(this.values(), this);
    } catch (err) {
      this.showError(err);
    } finally {
      this.submit.disabled = false;
    }
  }
}
