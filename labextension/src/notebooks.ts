/** Notebooks: the organisation's platform notebooks (a Jupyter server on a node of its own,
 * optionally attached to a cluster) with node type, cluster and status; the declared
 * NOTEBOOK_CREATE form; the create task's steps live; open in this tab or a new one. */

import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';

import { taskEnded } from './api';
import { age, badge, h } from './dom';
import { FormView } from './formview';
import type {
  Notebook,
  NotebookAction,
  NotebookConnection,
  NotebookPage,
  TaskDetail
} from './generated/api';
import { FORMS } from './generated/forms';
import { message, Section, SectionHost } from './section';

const NOTEBOOK_FORM = FORMS['notebook-create'];

export class NotebooksSection implements Section {
  readonly id = 'notebooks';
  readonly label = 'Notebooks';
  readonly node: HTMLElement;
  private notebooks: Notebook[] = [];
  private loaded = false;
  private tasks = new Map<string, TaskDetail>();
  private form: FormView | null = null;
  private formSlot = h('div', { class: 'jp-bodo-form-slot' });
  private tableSlot = h('div', { class: 'jp-bodo-table-slot' });
  private createButton: HTMLButtonElement;

  constructor(private host: SectionHost) {
    this.createButton = h(
      'button',
      { class: 'jp-mod-styled jp-mod-accept', onclick: () => this.openForm() },
      'Create notebook'
    );
    this.node = h(
      'section',
      { class: 'jp-bodo-section jp-bodo-notebooks', 'aria-label': 'Notebooks' },
      h('div', { class: 'jp-bodo-section-head' }, h('h2', {}, 'Notebooks'), this.createButton),
      this.formSlot,
      this.tableSlot
    );
    this.render();
  }

  dispose(): void {
    /* followers belong to the panel */
  }

  async tick(): Promise<boolean> {
    const page = await this.host.api.get<NotebookPage>('notebooks', { limit: 100 });
    const key = (l: Notebook[]) => JSON.stringify(l.map(n => [n.id, n.status, n.last_task]));
    const before = key(this.notebooks);
    this.notebooks = page.items;
    this.loaded = true;
    for (const n of this.notebooks) {
      if (n.last_task && !taskEnded(n.last_task.status)) {
        this.follow(n.last_task.id);
      }
    }
    this.render();
    return before !== key(this.notebooks);
  }

  private follow(taskId: string): void {
    let status = '';
    this.host.follow(taskId, t => {
      this.tasks.set(taskId, t);
      this.render();
      if (t.status !== status) {
        status = t.status;
        this.host.refreshSoon();
      }
    });
  }

  openForm(): void {
    if (this.form) {
      this.form.focus();
      return;
    }
    const form = new FormView(NOTEBOOK_FORM, {
      submitLabel: 'Create',
      choices: (from, values, name) => this.host.choices(from, values, name),
      onCancel: () => this.closeForm(),
      onSubmit: async (_values, view) => {
        const action = await this.host.api.post<NotebookAction>('notebooks', view.body());
        this.closeForm();
        this.notebooks = [
          action.notebook,
          ...this.notebooks.filter(n => n.id !== action.notebook.id)
        ];
        this.follow(action.task.id);
        this.render();
        this.host.refreshSoon();
      }
    });
    this.form = form;
    this.formSlot.replaceChildren(form.node);
    form.focus();
  }

  closeForm(): void {
    this.form = null;
    this.formSlot.replaceChildren();
    this.createButton.focus();
  }

  private render(): void {
    if (!this.notebooks.length) {
      this.tableSlot.replaceChildren(
        h(
          'p',
          { class: 'jp-bodo-empty' },
          this.loaded
            ? 'No platform notebooks yet: a notebook runs on a node of its own and can start attached to a cluster.'
            : 'Loading…'
        )
      );
      return;
    }
    const head = ['Name', 'Node type', 'Cluster', 'Status', 'Age', ''];
    const rows: HTMLElement[] = [];
    for (const n of this.notebooks) {
      const task = n.last_task ? this.tasks.get(n.last_task.id) : undefined;
      const running = n.status === 'RUNNING';
      const gone = n.status === 'STOPPING' || n.status === 'TERMINATED';
      rows.push(
        h(
          'tr',
          { 'data-notebook': n.name, 'data-status': n.status },
          h('td', { class: 'jp-bodo-name' }, n.name),
          h('td', {}, n.instance_type),
          h('td', {}, n.cluster?.name ?? '—'),
          h('td', { title: n.status_message }, badge(n.status)),
          h('td', {}, age(n.created_at)),
          h(
            'td',
            { class: 'jp-bodo-actions' },
            running
              ? [
                  this.button('Open', `Open ${n.name} in this tab`, () => void this.open(n, false)),
                  this.button('New tab', `Open ${n.name} in a new tab`, () =>
                    void this.open(n, true)
                  )
                ]
              : null,
            !gone
              ? this.button('Delete', `Delete notebook ${n.name}`, () => void this.remove(n), true)
              : null
          )
        )
      );
      if (task && !taskEnded(task.status)) {
        rows.push(
          h(
            'tr',
            { class: 'jp-bodo-details-row', 'data-details-of': n.name },
            h(
              'td',
              { colspan: head.length },
              h(
                'div',
                { class: 'jp-bodo-details' },
                h(
                  'ol',
                  { class: 'jp-bodo-task-steps' },
                  task.steps.map(s =>
                    h(
                      'li',
                      { 'data-step': s.name, 'data-state': s.state, class: `jp-bodo-step-${s.state}` },
                      h('span', { class: 'jp-bodo-step-title' }, s.title),
                      s.message ? h('span', { class: 'jp-bodo-step-message' }, s.message) : null
                    )
                  )
                )
              )
            )
          )
        );
      }
    }
    this.tableSlot.replaceChildren(
      h(
        'div',
        { class: 'jp-bodo-table-scroll' },
        h(
          'table',
          { class: 'jp-bodo-table', 'aria-label': 'Notebooks' },
          h('thead', {}, h('tr', {}, head.map(t => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, rows)
        )
      )
    );
  }

  private button(
    label: string,
    aria: string,
    onclick: () => void,
    danger = false
  ): HTMLButtonElement {
    return h(
      'button',
      { class: `jp-bodo-link${danger ? ' jp-bodo-danger' : ''}`, 'aria-label': aria, onclick },
      label
    );
  }

  /** The notebook's server, in this tab or a new one (with its token when there is no hub). */
  private async open(n: Notebook, newTab: boolean): Promise<void> {
    // A new tab is opened at once (in the click), so that no popup blocker stops it.
    const tab = newTab ? window.open('', '_blank') : null;
    try {
      const c = await this.host.api.get<NotebookConnection>(`notebooks/${n.id}/connection`);
      const url = c.token ? `${c.url}${c.url.includes('?') ? '&' : '?'}token=${encodeURIComponent(c.token)}` : c.url;
      if (tab) {
        tab.location.href = url;
      } else {
        window.location.href = url;
      }
    } catch (err) {
      tab?.close();
      Notification.error(`Cannot open ${n.name}: ${message(err)}`, { autoClose: false });
    }
  }

  private async remove(n: Notebook): Promise<void> {
    const answer = await showDialog({
      title: `Delete notebook ${n.name}?`,
      body: 'Its server stops and its node is freed (and its cluster let go).',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      const action = await this.host.api.delete<NotebookAction>(`notebooks/${n.id}`);
      this.follow(action.task.id);
    } catch (err) {
      Notification.error(`Cannot delete ${n.name}: ${message(err)}`, { autoClose: false });
    }
    this.host.refreshSoon();
  }
}
