/** The "Bodo" left-sidebar panel: Onboarding and Clusters. */

import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { CommandRegistry } from '@lumino/commands';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { APIError, BodoAPI, taskEnded } from './api';
import { age, badge, disclosure, h, nodes } from './dom';
import { ChoicesUnavailable, Choice, FormView, Values } from './formview';
import type {
  AwsAccount,
  BodoVersionList,
  Cluster,
  ClusterAction,
  ClusterPage,
  Info,
  InstanceTypeList,
  NotebookPage,
  TaskDetail
} from './generated/api';
import { FORMS } from './generated/forms';
import { JobsSection } from './jobs';
import { NotebooksSection } from './notebooks';
import { SettingsSection } from './settings';
import { followTask, IdlePoll } from './polling';
import type { Section, SectionHost } from './section';

export const COMMANDS = {
  open: 'bodo-jupyter:open',
  createCluster: 'bodo-jupyter:create-cluster',
  refresh: 'bodo-jupyter:refresh',
  attach: 'bodo-jupyter:attach-notebook'
};

/** Where the panel remembers that this Lab attached a notebook (onboarding step 3). */
export const ATTACHED_KEY = 'bodo-jupyter:attached-a-notebook';

const CLUSTER_FORM = FORMS['cluster-create'];

export class BodoPanel extends Widget implements SectionHost {
  readonly api: BodoAPI;
  infoValue: Info | null = null;
  clusterList: Cluster[] = [];
  private moreClusters = false;
  private notebooks: number | null = null;
  private aws: AwsAccount | null = null;
  private loadError = '';
  private tasks = new Map<string, TaskDetail>();
  private followers = new Map<string, AbortController>();
  private expanded = new Set<string>();
  private form: FormView | null = null;
  private poll: IdlePoll;
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  private lastSeen = '';
  private sectionChanged = false;

  private statusEl = h('div', { class: 'jp-bodo-banner', role: 'status', hidden: true });
  private onboardingEl = h('section', {
    class: 'jp-bodo-section jp-bodo-onboarding',
    'aria-label': 'Onboarding'
  });
  private formSlot = h('div', { class: 'jp-bodo-form-slot' });
  private tableSlot = h('div', { class: 'jp-bodo-table-slot' });
  private whoEl = h('span', { class: 'jp-bodo-who' });
  private sections: Section[] = [];
  private clustersEl: HTMLElement;
  private tabsEl = h('div', { class: 'jp-bodo-tabs', role: 'tablist', 'aria-label': 'Bodo' });
  private current = 'clusters';

  constructor(
    readonly commands: CommandRegistry,
    api?: BodoAPI
  ) {
    super();
    this.api = api ?? new BodoAPI();
    this.id = 'bodo-jupyter-sidebar';
    this.addClass('jp-bodo-sidebar');
    this.title.caption = 'Bodo: clusters';
    this.poll = new IdlePoll({ tick: () => this.tick() });
    const createButton = h(
      'button',
      {
        class: 'jp-mod-styled jp-mod-accept jp-bodo-create',
        onclick: () => this.openCreateForm()
      },
      'Create cluster'
    );
    this.node.append(
      h(
        'header',
        { class: 'jp-bodo-header' },
        h('h2', {}, 'Bodo'),
        this.whoEl,
        h(
          'button',
          {
            class: 'jp-bodo-link jp-bodo-refresh',
            title: 'Refresh',
            onclick: () => void this.refresh()
          },
          'Refresh'
        )
      ),
      this.statusEl,
      this.onboardingEl,
      this.tabsEl
    );
    this.clustersEl = h(
      'section',
      { class: 'jp-bodo-section jp-bodo-clusters', 'aria-label': 'Clusters' },
      h('div', { class: 'jp-bodo-section-head' }, h('h2', {}, 'Clusters'), createButton),
      this.formSlot,
      this.tableSlot
    );
    this.sections = [
      new JobsSection(this),
      new NotebooksSection(this),
      new SettingsSection(this)
    ];
    this.node.append(this.clustersEl, ...this.sections.map(s => s.node));
    this.renderTabs();
    this.renderOnboarding();
    this.renderClusters();
    document.addEventListener('visibilitychange', this.onVisibility);
  }

  // -- SectionHost ------------------------------------------------------------------

  info(): Info | null {
    return this.infoValue;
  }

  clusters(): Cluster[] {
    return this.clusterList;
  }

  refreshSoon(): void {
    this.scheduleRefresh();
  }

  /** Show a section: clusters, jobs, ... */
  showSection(id: string): void {
    if (id !== this.current) {
      this.current = id;
      this.renderTabs();
      this.scheduleRefresh();
    }
  }

  section<T extends Section>(id: string): T | undefined {
    return this.sections.find(s => s.id === id) as T | undefined;
  }

  private renderTabs(): void {
    const tabs = [
      { id: 'clusters', label: 'Clusters' },
      ...this.sections.map(s => ({ id: s.id, label: s.label }))
    ];
    const buttons = tabs.map((t, i) =>
      h(
        'button',
        {
          class: 'jp-bodo-tab',
          role: 'tab',
          id: `jp-bodo-tab-${t.id}`,
          'data-tab': t.id,
          'aria-selected': String(t.id === this.current),
          tabindex: t.id === this.current ? 0 : -1,
          onclick: () => this.showSection(t.id),
          onkeydown: (e: KeyboardEvent) => {
            const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
            if (step) {
              e.preventDefault();
              const next = tabs[(i + step + tabs.length) % tabs.length];
              this.showSection(next.id);
              this.tabsEl.querySelector<HTMLElement>(`[data-tab="${next.id}"]`)?.focus();
            }
          }
        },
        t.label
      )
    );
    this.tabsEl.replaceChildren(...buttons);
    this.clustersEl.hidden = this.current !== 'clusters';
    for (const s of this.sections) {
      s.node.hidden = this.current !== s.id;
    }
  }

  /** A browser tab in the background reads nothing either. */
  private onVisibility = (): void => {
    if (document.hidden) {
      this.poll.pause();
    } else if (this.isVisible) {
      this.poll.resume();
    }
  };

  dispose(): void {
    document.removeEventListener('visibilitychange', this.onVisibility);
    for (const s of this.sections) {
      s.dispose();
    }
    this.poll.dispose();
    for (const c of this.followers.values()) {
      c.abort();
    }
    super.dispose();
  }

  /** Activated (from a command, the sidebar's tab): focus what the user came for. */
  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    if (this.form) {
      this.form.focus();
    } else if (!this.node.contains(document.activeElement)) {
      this.tabsEl.querySelector<HTMLElement>('[aria-selected="true"]')?.focus();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (!document.hidden) {
      this.poll.resume();
    }
  }

  protected onAfterHide(msg: Message): void {
    super.onAfterHide(msg);
    this.poll.pause();
  }

  /** Read everything now (a user action, or news from a task). */
  async refresh(): Promise<void> {
    await this.poll.now();
  }

  private scheduleRefresh(): void {
    if (this.refreshTimer === null) {
      this.refreshTimer = setTimeout(() => {
        this.refreshTimer = null;
        void this.refresh();
      }, 250);
    }
  }

  /** One read of what the panel shows; true when something changed. */
  private async tick(): Promise<boolean> {
    try {
      if (!this.infoValue) {
        this.infoValue = await this.api.get<Info>('');
        this.whoEl.textContent = `${this.infoValue.user.name} · ${this.infoValue.organization.name}`;
      }
      const page = await this.api.get<ClusterPage>('clusters', { limit: 100 });
      const reads: Promise<unknown>[] = [];
      // Onboarding: read only what is not done yet.
      if (!this.notebooks) {
        reads.push(
          this.api
            .get<NotebookPage>('notebooks', { limit: 1 })
            .then(p => (this.notebooks = p.items.length))
            .catch(() => (this.notebooks = 0))
        );
      }
      if (this.awsEnabled() && this.aws?.status !== 'READY') {
        reads.push(
          this.api
            .get<AwsAccount>('aws/credentials')
            .then(a => (this.aws = a))
            .catch(() => (this.aws = null))
        );
      }
      const section = this.sections.find(s => s.id === this.current);
      let sectionChanged = false;
      if (section) {
        reads.push(section.tick().then(c => (sectionChanged = c)));
      }
      await Promise.all(reads);
      this.sectionChanged = sectionChanged;
      this.loadError = '';
      this.clusterList = page.items;
      this.moreClusters = page.next !== null;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const changed = message !== this.loadError;
      this.loadError = message;
      this.renderStatus();
      if (changed) {
        throw err;
      }
      return false;
    }
    const seen = JSON.stringify([
      this.clusterList.map(c => [c.id, c.status, c.last_task, c.holder?.id]),
      this.notebooks,
      this.aws?.status
    ]);
    const changed = seen !== this.lastSeen || this.sectionChanged;
    this.lastSeen = seen;
    this.followActive();
    this.renderStatus();
    this.renderOnboarding();
    this.renderClusters();
    return changed;
  }

  private awsEnabled(): boolean {
    return !!this.infoValue?.providers.some(p => p.name === 'aws');
  }

  // -- tasks ------------------------------------------------------------------------

  /** Follow the tasks still running (and those whose details are open). */
  private followActive(): void {
    for (const c of this.clusterList) {
      const t = c.last_task;
      if (t && (!taskEnded(t.status) || (this.expanded.has(c.id) && !this.tasks.has(t.id)))) {
        this.follow(t.id);
      }
    }
  }

  follow(taskId: string, onUpdate?: (task: TaskDetail) => void): void {
    if (this.followers.has(taskId)) {
      return;
    }
    const controller = new AbortController();
    this.followers.set(taskId, controller);
    let status = '';
    void followTask(
      this.api,
      taskId,
      task => {
        this.tasks.set(taskId, task);
        this.renderClusters();
        onUpdate?.(task);
        if (task.status !== status) {
          if (status) {
            this.scheduleRefresh(); // the cluster's status moves with its task's
          }
          status = task.status;
        }
      },
      controller.signal
    ).finally(() => {
      this.followers.delete(taskId);
      if (!controller.signal.aborted) {
        this.scheduleRefresh();
      }
    });
  }

  // -- onboarding -------------------------------------------------------------------

  private renderStatus(): void {
    this.statusEl.hidden = !this.loadError;
    this.statusEl.textContent = this.loadError
      ? `The platform's API does not answer: ${this.loadError}`
      : '';
  }

  private renderOnboarding(): void {
    const awsNeeded = this.awsEnabled();
    const attached = localStorage.getItem(ATTACHED_KEY) === 'true';
    const steps = [
      {
        key: 'credentials',
        label: 'Link AWS credentials',
        done: awsNeeded ? this.aws?.status === 'READY' : true,
        note: awsNeeded
          ? this.aws
            ? `AWS account ${this.aws.account_id}: ${this.aws.status}`
            : 'Needed for clusters on AWS: your access key and account id.'
          : 'Not needed: clusters run on this machine (local provider).',
        notNeeded: !awsNeeded,
        run: () => this.showSection('settings')
      },
      {
        key: 'cluster',
        label: 'Create a cluster',
        done: this.clusterList.some(c => c.status === 'RUNNING'),
        note: 'MPI engines to run %%px cells and jobs on.',
        notNeeded: false,
        run: () => this.openCreateForm()
      },
      {
        key: 'notebook',
        label: 'Create a notebook',
        done: attached || (this.notebooks ?? 0) > 0,
        note: 'A platform notebook (Notebooks), or this Lab’s notebook attached to a cluster.',
        notNeeded: false,
        run: () => {
          this.showSection('notebooks');
          this.section<NotebooksSection>('notebooks')?.openForm();
        }
      }
    ];
    this.onboardingEl.replaceChildren(
      h('h2', {}, 'Onboarding'),
      h(
        'ol',
        { class: 'jp-bodo-steps-list' },
        steps.map((s, i) =>
          h(
            'li',
            {
              class: `jp-bodo-onboarding-step${s.done ? ' jp-mod-done' : ''}${
                s.notNeeded ? ' jp-mod-not-needed' : ''
              }`,
              'data-step': s.key,
              'data-done': String(s.done)
            },
            h(
              'span',
              { class: 'jp-bodo-tick', 'aria-hidden': 'true' },
              s.done ? '✓' : String(i + 1)
            ),
            h(
              'div',
              { class: 'jp-bodo-step-text' },
              s.run
                ? h('button', { class: 'jp-bodo-link', onclick: s.run }, s.label)
                : h('span', { class: 'jp-bodo-step-label' }, s.label),
              h('span', { class: 'jp-bodo-visually-hidden' }, s.done ? ' (done)' : ' (to do)'),
              h('div', { class: 'jp-bodo-help' }, s.note)
            )
          )
        )
      )
    );
  }

  // -- the create form --------------------------------------------------------------

  openCreateForm(): void {
    if (this.form) {
      this.form.focus();
      return;
    }
    const form = new FormView(CLUSTER_FORM, {
      submitLabel: 'Create',
      choices: (from, values, name) => this.choices(from, values, name),
      limits: f =>
        f.name === 'instances'
          ? {
              maximum: this.infoValue?.providers.find(
                p => p.name === (this.infoValue?.default_provider ?? 'local')
              )?.max_instances
            }
          : undefined,
      onCancel: () => this.closeCreateForm(),
      onSubmit: async (_values, view) => {
        const action = await this.api.post<ClusterAction>('clusters', view.body());
        this.closeCreateForm();
        this.expanded.add(action.cluster.id);
        this.clusterList = [action.cluster, ...this.clusterList.filter(c => c.id !== action.cluster.id)];
        this.renderClusters();
        this.follow(action.task.id);
        void this.refresh();
      }
    });
    this.form = form;
    this.formSlot.replaceChildren(form.node);
    form.focus();
  }

  closeCreateForm(): void {
    this.form = null;
    this.formSlot.replaceChildren();
    this.node.querySelector<HTMLElement>('.jp-bodo-create')?.focus();
  }

  async choices(from: string, values: Values, form: string): Promise<Choice[]> {
    const provider = (values.provider as string) || this.infoValue?.default_provider || 'local';
    try {
      switch (from) {
        case 'free_clusters': {
          const free = this.clusterList
            .filter(c => c.status === 'RUNNING' && !c.holder && !c.dedicated_to)
            .map(c => ({ value: c.name, label: `${c.name} (${c.core_count} ranks)` }));
          return form === 'job-create'
            ? [{ value: 'NEW', label: 'NEW: a cluster made for each run' }, ...free]
            : free;
        }
        case 'timezones': {
          const intl = Intl as unknown as { supportedValuesOf?: (k: string) => string[] };
          const zones = intl.supportedValuesOf?.('timeZone') ?? [];
          return ['UTC', ...zones.filter(z => z !== 'UTC')].map(z => ({ value: z, label: z }));
        }
        case 'notebook_instance_types': {
          const list = await this.api.get<InstanceTypeList>('notebook-instance-types', {
            provider
          });
          return list.items.map(t => ({
            value: t.name,
            label: `${t.name} (${t.cores} cores, ${t.memory_gib} GiB)`
          }));
        }
        case 'instance_types': {
          const list = await this.api.get<InstanceTypeList>('instance-types', {
            provider,
            efa: values.efa ? true : undefined
          });
          if (!list.items.length) {
            throw new ChoicesUnavailable(
              values.efa
                ? `The ${provider} provider offers no EFA-capable instance type.`
                : `The ${provider} provider offers no instance type.`
            );
          }
          return list.items.map(t => ({
            value: t.name,
            label: `${t.name} (${t.cores} cores, ${t.memory_gib} GiB${t.efa ? ', EFA' : ''})`
          }));
        }
        case 'providers':
          return (this.infoValue?.providers ?? []).map(p => ({
            value: p.name,
            label: p.display_name
          }));
        case 'bodo_versions': {
          const list = await this.api.get<BodoVersionList>('bodo-versions', { provider });
          return list.items.map(v => ({
            value: v.version,
            label: v.default ? `${v.version} (default)` : v.version
          }));
        }
        default:
          return [];
      }
    } catch (err) {
      if (err instanceof ChoicesUnavailable) {
        throw err;
      }
      const message = err instanceof Error ? err.message : String(err);
      throw new ChoicesUnavailable(
        provider === 'aws'
          ? `No instance types from AWS: ${sentence(message)} Link valid credentials in Settings.`
          : message,
        provider === 'aws'
          ? { label: 'Open Settings', run: () => this.showSection('settings') }
          : undefined
      );
    }
  }

  // -- the clusters table -----------------------------------------------------------

  private renderClusters(): void {
    const focused = (document.activeElement as HTMLElement | null)?.dataset?.key;
    if (!this.clusterList.length) {
      this.tableSlot.replaceChildren(
        h(
          'p',
          { class: 'jp-bodo-empty' },
          this.infoValue ? 'No clusters yet. Create one to run %%px cells on MPI ranks.' : 'Loading…'
        )
      );
      return;
    }
    const head = [
      'Name',
      'Provider',
      'Instance type',
      'Instances',
      'Cores',
      'EFA',
      'Status',
      'Holder',
      'Age',
      ''
    ];
    const rows: HTMLElement[] = [];
    for (const c of this.clusterList) {
      const open = this.expanded.has(c.id);
      const busy = c.status === 'STOPPING' || c.status === 'TERMINATED';
      rows.push(
        h(
          'tr',
          { 'data-cluster': c.name, 'data-status': c.status },
          h('td', { class: 'jp-bodo-name' }, disclosure(c.name, open, `details-${c.id}`, () =>
            this.toggleDetails(c)
          )),
          h('td', {}, c.provider),
          h('td', {}, c.instance_type),
          h('td', { class: 'jp-bodo-num' }, c.instances),
          h('td', { class: 'jp-bodo-num', title: `${c.cores_per_instance} per instance` }, c.core_count),
          h('td', {}, c.efa ? 'yes' : 'no'),
          h('td', {}, badge(c.status)),
          h('td', { class: 'jp-bodo-holder', title: c.holder?.label ?? '' }, c.holder?.label ?? '—'),
          h('td', { title: c.created_at }, age(c.created_at)),
          h(
            'td',
            { class: 'jp-bodo-actions' },
            c.status === 'RUNNING'
              ? h(
                  'button',
                  {
                    class: 'jp-bodo-link',
                    'data-key': `attach-${c.id}`,
                    'aria-label': `Attach the current notebook to ${c.name}`,
                    title: 'Attach the current notebook to this cluster',
                    onclick: () => void this.commands.execute(COMMANDS.attach, { cluster: c.name })
                  },
                  'Attach'
                )
              : null,
            !busy
              ? h(
                  'button',
                  {
                    class: 'jp-bodo-link jp-bodo-danger',
                    'data-key': `delete-${c.id}`,
                    'aria-label': `Delete ${c.name}`,
                    onclick: () => void this.deleteCluster(c)
                  },
                  'Delete'
                )
              : null
          )
        )
      );
      if (open) {
        rows.push(
          h(
            'tr',
            { class: 'jp-bodo-details-row', 'data-details-of': c.name },
            h('td', { colspan: head.length }, this.details(c))
          )
        );
      }
    }
    this.tableSlot.replaceChildren(
      ...nodes(h(
        'div',
        { class: 'jp-bodo-table-scroll' },
        h(
          'table',
          { class: 'jp-bodo-table', 'aria-label': 'Clusters' },
          h('thead', {}, h('tr', {}, head.map(t => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, rows)
        )
      ),
      this.moreClusters
        ? h('p', { class: 'jp-bodo-help' }, 'The newest 100 clusters are shown.')
        : null)
    );
    if (focused) {
      this.tableSlot.querySelector<HTMLElement>(`[data-key="${focused}"]`)?.focus();
    }
  }

  private toggleDetails(c: Cluster): void {
    if (this.expanded.has(c.id)) {
      this.expanded.delete(c.id);
    } else {
      this.expanded.add(c.id);
      if (c.last_task && !this.tasks.has(c.last_task.id)) {
        this.follow(c.last_task.id);
      }
    }
    this.renderClusters();
  }

  private details(c: Cluster): HTMLElement {
    const t = c.last_task ? this.tasks.get(c.last_task.id) : undefined;
    const facts: [string, string][] = [
      ['Id', c.id],
      ['Bodo', c.bodo_version ?? 'none'],
      ['Created', new Date(c.created_at).toLocaleString()]
    ];
    if (c.status_message) {
      facts.push(['Status', c.status_message]);
    }
    const gone = c.status === 'STOPPING' || c.status === 'TERMINATED';
    return h(
      'div',
      { class: 'jp-bodo-details' },
      h(
        'div',
        { class: 'jp-bodo-details-actions' },
        c.status === 'RUNNING'
          ? h(
              'button',
              {
                class: 'jp-mod-styled jp-mod-accept',
                onclick: () => void this.commands.execute(COMMANDS.attach, { cluster: c.name })
              },
              'Attach the current notebook'
            )
          : null,
        !gone
          ? h(
              'button',
              { class: 'jp-mod-styled jp-mod-warn', onclick: () => void this.deleteCluster(c) },
              'Delete'
            )
          : null
      ),
      h('dl', {}, facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      c.last_task
        ? t
          ? this.taskView(t)
          : h('p', { class: 'jp-bodo-help' }, 'Loading the task…')
        : null
    );
  }

  private taskView(t: TaskDetail): HTMLElement {
    const pct = Math.round(t.progress * 100);
    return h(
      'div',
      { class: 'jp-bodo-task', 'data-task': t.id, 'data-status': t.status },
      h(
        'div',
        { class: 'jp-bodo-task-head' },
        h('span', { class: 'jp-bodo-task-kind' }, t.kind),
        badge(t.status),
        h('progress', { max: 100, value: pct, 'aria-label': `${t.kind} ${pct}%` }),
        h('span', { class: 'jp-bodo-num' }, `${pct}%`)
      ),
      h(
        'ol',
        { class: 'jp-bodo-task-steps' },
        t.steps.map(s =>
          h(
            'li',
            { 'data-step': s.name, 'data-state': s.state, class: `jp-bodo-step-${s.state}` },
            h('span', { class: 'jp-bodo-step-icon', 'aria-hidden': 'true' }, STEP_ICONS[s.state] ?? '·'),
            h('span', { class: 'jp-bodo-step-title' }, s.title),
            stepNote(s.title, s.message)
              ? h('span', { class: 'jp-bodo-step-message' }, stepNote(s.title, s.message))
              : null
          )
        )
      ),
      t.error ? h('p', { class: 'jp-bodo-error', role: 'alert' }, t.error) : null
    );
  }

  private async deleteCluster(c: Cluster): Promise<void> {
    const answer = await showDialog({
      title: `Delete cluster ${c.name}?`,
      body: `Its ${c.core_count} MPI ranks stop and what it made is removed.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      const action = await this.api.delete<ClusterAction>(`clusters/${encodeURIComponent(c.id)}`);
      this.clusterList = this.clusterList.map(x => (x.id === c.id ? action.cluster : x));
      this.renderClusters();
      this.follow(action.task.id);
    } catch (err) {
      Notification.error(
        `Cannot delete ${c.name}: ${err instanceof APIError ? err.message : String(err)}`,
        { autoClose: false }
      );
    }
    void this.refresh();
  }

  /** RUNNING clusters, for the attach command's picker. */
  runningClusters(): string[] {
    return this.clusterList.filter(c => c.status === 'RUNNING').map(c => c.name);
  }

  markAttached(): void {
    localStorage.setItem(ATTACHED_KEY, 'true');
    this.renderOnboarding();
  }
}

/** A message as a sentence: ending with a full stop. */
function sentence(text: string): string {
  const t = text.trim();
  return /[.!?]$/.test(t) ? t : `${t}.`;
}

/** A step's message without the title it often repeats ("Title (1.2s)" -> "1.2s"). */
function stepNote(title: string, message: string): string {
  if (message.startsWith(title)) {
    return message.slice(title.length).trim().replace(/^\((.*)\)$/, '$1');
  }
  return message;
}

const STEP_ICONS: Record<string, string> = {
  pending: '○',
  started: '◐',
  done: '✓',
  failed: '✗'
};
