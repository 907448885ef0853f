/** Jobs: the list (status, last run, next run), the declared JOB_CREATE form (a cluster or
 * NEW, now / at / cron, the command after `mpiexec -n <CORE_COUNT> python`, advanced Git
 * fields and environment), run history, live logs, run now, cancel, pause. */

import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';

import { sleep, taskEnded } from './api';
import { age, badge, disclosure, h, nodes } from './dom';
import { FormView } from './formview';
import type { Job, JobCreated, JobLogs, JobPage, JobRun, JobRunPage } from './generated/api';
import { FORMS } from './generated/forms';
import { WAIT_S } from './polling';
import { message, Section, SectionHost, when } from './section';

const JOB_FORM = FORMS['job-create'];
export const COMMAND_PREFIX = 'mpiexec -n <CORE_COUNT> python';

interface LogView {
  runId: string;
  text: string;
  complete: boolean;
  controller: AbortController;
  pre: HTMLPreElement;
}

export class JobsSection implements Section {
  readonly id = 'jobs';
  readonly label = 'Jobs';
  readonly node: HTMLElement;
  private jobs: Job[] = [];
  private loaded = false;
  private expanded = new Set<string>();
  private runs = new Map<string, JobRun[]>();
  private logs = new Map<string, LogView>();
  private followed = new Set<string>();
  private form: FormView | null = null;
  private formSlot = h('div', { class: 'jp-bodo-form-slot' });
  private tableSlot = h('div', { class: 'jp-bodo-table-slot' });
  private createButton: HTMLButtonElement;

  constructor(private host: SectionHost) {
    this.createButton = h(
      'button',
      { class: 'jp-mod-styled jp-mod-accept', onclick: () => this.openForm() },
      'Create job'
    );
    this.node = h(
      'section',
      { class: 'jp-bodo-section jp-bodo-jobs', 'aria-label': 'Jobs' },
      h('div', { class: 'jp-bodo-section-head' }, h('h2', {}, 'Jobs'), this.createButton),
      this.formSlot,
      this.tableSlot
    );
    this.render();
  }

  dispose(): void {
    for (const l of this.logs.values()) {
      l.controller.abort();
    }
  }

  async tick(): Promise<boolean> {
    const page = await this.host.api.get<JobPage>('jobs', { limit: 100 });
    const before = JSON.stringify(this.jobs.map(j => [j.id, j.last_run, j.schedule]));
    this.jobs = page.items;
    this.loaded = true;
    await Promise.all(
      [...this.expanded].map(async id => {
        const runs = await this.host.api
          .get<JobRunPage>(`jobs/${id}/runs`, { limit: 10 })
          .catch(() => null);
        if (runs) {
          this.runs.set(id, runs.items);
        }
      })
    );
    for (const j of this.jobs) {
      const run = j.last_run;
      if (run && !taskEnded(run.status) && !this.followed.has(run.task_id)) {
        this.followed.add(run.task_id);
        let status = '';
        this.host.follow(run.task_id, t => {
          if (t.status !== status) {
            status = t.status;
            this.host.refreshSoon();
          }
        });
      }
    }
    this.render();
    return before !== JSON.stringify(this.jobs.map(j => [j.id, j.last_run, j.schedule]));
  }

  openForm(): void {
    if (this.form) {
      this.form.focus();
      return;
    }
    const form = new FormView(JOB_FORM, {
      submitLabel: 'Create',
      choices: (from, values, name) => this.host.choices(from, values, name),
      prefixes: { command: COMMAND_PREFIX },
      onCancel: () => this.closeForm(),
      onSubmit: async (_values, view) => {
        const job = await this.host.api.post<JobCreated>('jobs', view.body());
        this.closeForm();
        for (const n of job.notices ?? []) {
          Notification.info(n);
        }
        this.expanded.add(job.id);
        this.jobs = [job, ...this.jobs.filter(j => j.id !== job.id)];
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
    if (!this.jobs.length) {
      this.tableSlot.replaceChildren(
        h(
          'p',
          { class: 'jp-bodo-empty' },
          this.loaded
            ? `No jobs yet. A job runs \`${COMMAND_PREFIX} <command>\` with code from Git or S3.`
            : 'Loading…'
        )
      );
      return;
    }
    const head = ['Name', 'Cluster', 'Schedule', 'Status', 'Last run', 'Next run', ''];
    const rows: HTMLElement[] = [];
    for (const j of this.jobs) {
      const open = this.expanded.has(j.id);
      const run = j.last_run;
      const active = run && !taskEnded(run.status);
      const scheduled = j.schedule.type !== 'now';
      rows.push(
        h(
          'tr',
          { 'data-job': j.name, 'data-status': run?.status ?? 'none' },
          h('td', { class: 'jp-bodo-name' }, disclosure(j.name, open, `details-${j.id}`, () =>
            this.toggle(j)
          )),
          h('td', {}, clusterLabel(j)),
          h(
            'td',
            {},
            j.schedule.type === 'cron'
              ? `cron ${j.schedule.cron} ${j.schedule.timezone}`
              : j.schedule.type === 'at'
                ? `at ${when(j.schedule.at)}`
                : 'now',
            scheduled && !j.schedule.active ? ' (paused)' : ''
          ),
          h('td', {}, run ? badge(run.status) : 'never run'),
          h('td', { title: run?.started_at ?? '' }, run ? age(run.started_at ?? run.created_at) : '—'),
          h('td', {}, j.schedule.active ? when(j.schedule.next_run_at) : '—'),
          h(
            'td',
            { class: 'jp-bodo-actions' },
            run
              ? this.button(this.logs.has(j.id) ? 'Hide logs' : 'Show logs', `Logs of ${j.name}`, () =>
                  this.toggleLogs(j)
                )
              : null,
            this.button('Run now', `Run ${j.name} now`, () => void this.runNow(j)),
            active ? this.button('Cancel', `Cancel ${j.name}`, () => void this.cancel(j)) : null,
            scheduled
              ? this.button(
                  j.schedule.active ? 'Deactivate' : 'Activate',
                  `${j.schedule.active ? 'Deactivate' : 'Activate'} ${j.name}`,
                  () => void this.setActive(j, !j.schedule.active)
                )
              : null,
            this.button('Delete', `Delete job ${j.name}`, () => void this.remove(j), true)
          )
        )
      );
      const log = this.logs.get(j.id);
      if (open || log) {
        rows.push(
          h(
            'tr',
            { class: 'jp-bodo-details-row', 'data-details-of': j.name },
            h(
              'td',
              { colspan: head.length },
              h('div', { class: 'jp-bodo-details' }, ...nodes(open ? this.details(j) : null, log?.pre))
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
          { class: 'jp-bodo-table', 'aria-label': 'Jobs' },
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

  private details(j: Job): HTMLElement {
    const facts: [string, string][] = [
      ['Command', j.command_line ?? `${COMMAND_PREFIX} ${j.command}`],
      ['Source', `${j.source_type} ${j.path}${j.ref ? ` @ ${j.ref}` : ''}`]
    ];
    if (j.git_username || j.git_password_set) {
      facts.push([
        'Git',
        `${j.git_username ?? ''}${j.git_password_set ? ' (password set)' : ''}`.trim()
      ]);
    }
    if (j.timeout_s) {
      facts.push(['Timeout', `${j.timeout_s} s`]);
    }
    if (j.retries) {
      facts.push(['Retries', `${j.retries}, ${j.retry_delay_s} s apart`]);
    }
    const runs = this.runs.get(j.id) ?? [];
    const active = j.last_run && !taskEnded(j.last_run.status);
    return h(
      'div',
      { class: 'jp-bodo-job-details' },
      h(
        'div',
        { class: 'jp-bodo-details-actions' },
        h('button', { class: 'jp-mod-styled jp-mod-accept', onclick: () => void this.runNow(j) }, 'Run now'),
        active
          ? h('button', { class: 'jp-mod-styled', onclick: () => void this.cancel(j) }, 'Cancel')
          : null,
        j.schedule.type !== 'now'
          ? h(
              'button',
              { class: 'jp-mod-styled', onclick: () => void this.setActive(j, !j.schedule.active) },
              j.schedule.active ? 'Deactivate' : 'Activate'
            )
          : null,
        h('button', { class: 'jp-mod-styled jp-mod-warn', onclick: () => void this.remove(j) }, 'Delete')
      ),
      h('dl', {}, facts.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      h('h3', { class: 'jp-bodo-subhead' }, 'Runs'),
      runs.length
        ? h(
            'table',
            { class: 'jp-bodo-table jp-bodo-runs', 'aria-label': `Runs of ${j.name}` },
            h(
              'thead',
              {},
              h('tr', {}, ['Run', 'Trigger', 'Status', 'Phase', 'Started', 'Exit'].map(t => h('th', {}, t)))
            ),
            h(
              'tbody',
              {},
              runs.map(r =>
                h(
                  'tr',
                  { 'data-run': r.id, title: r.reason ?? '' },
                  h('td', {}, r.id),
                  h('td', {}, r.trigger),
                  h('td', {}, badge(r.status)),
                  h('td', {}, r.phase),
                  h('td', {}, when(r.started_at)),
                  h('td', { class: 'jp-bodo-num' }, r.exit_code ?? '—')
                )
              )
            )
          )
        : h('p', { class: 'jp-bodo-help' }, 'No runs yet.')
    );
  }

  private toggle(j: Job): void {
    if (this.expanded.delete(j.id)) {
      this.render();
      return;
    }
    this.expanded.add(j.id);
    this.render();
    this.host.refreshSoon();
  }

  /** Show the latest run's log and follow it by long poll until it is complete. */
  private toggleLogs(j: Job): void {
    const open = this.logs.get(j.id);
    if (open) {
      open.controller.abort();
      this.logs.delete(j.id);
      this.render();
      return;
    }
    const view: LogView = {
      runId: 'latest',
      text: '',
      complete: false,
      controller: new AbortController(),
      pre: h('pre', {
        class: 'jp-bodo-logs',
        'aria-label': `Log of ${j.name}`,
        'aria-live': 'polite',
        tabindex: 0
      })
    };
    this.logs.set(j.id, view);
    this.render();
    void this.followLogs(j, view);
  }

  private async followLogs(j: Job, view: LogView): Promise<void> {
    let offset = 0;
    let retry = 1000;
    const signal = view.controller.signal;
    while (!signal.aborted && !view.complete) {
      try {
        const piece: JobLogs = await this.host.api.get<JobLogs>(
          `jobs/${j.id}/runs/${view.runId}/logs`,
          { offset, wait: offset || view.runId !== 'latest' ? WAIT_S : 0 },
          signal
        );
        retry = 1000;
        view.runId = piece.run_id; // latest -> that run, so a newer run does not cut in
        view.text += piece.text;
        offset = piece.next_offset;
        view.complete = piece.complete;
        view.pre.textContent = view.text || '(no output yet)';
        view.pre.dataset.complete = String(piece.complete);
        view.pre.dataset.status = piece.status;
        view.pre.scrollTop = view.pre.scrollHeight;
      } catch (err) {
        if (signal.aborted) {
          return;
        }
        view.pre.textContent = `${view.text}\n[${message(err)}]`;
        await sleep(retry, signal);
        retry = Math.min(retry * 2, 30_000);
      }
    }
  }

  private async act(what: string, f: () => Promise<unknown>): Promise<void> {
    try {
      await f();
    } catch (err) {
      Notification.error(`${what}: ${message(err)}`, { autoClose: false });
    }
    this.host.refreshSoon();
  }

  private runNow(j: Job): Promise<void> {
    return this.act(`Cannot run ${j.name}`, async () => {
      await this.host.api.post(`jobs/${j.id}/runs`);
      const log = this.logs.get(j.id);
      if (log) {
        // Follow the new run's log.
        log.controller.abort();
        this.logs.delete(j.id);
      }
    });
  }

  private cancel(j: Job): Promise<void> {
    return this.act(`Cannot cancel ${j.name}`, () => this.host.api.post(`jobs/${j.id}/cancel`));
  }

  private setActive(j: Job, active: boolean): Promise<void> {
    return this.act(`Cannot change ${j.name}`, () =>
      this.host.api.request('PATCH', `jobs/${j.id}`, { body: { active } })
    );
  }

  private async remove(j: Job): Promise<void> {
    const answer = await showDialog({
      title: `Delete job ${j.name}?`,
      body: 'Its schedule, runs and logs are removed; a running run is cancelled first.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (answer.button.accept) {
      await this.act(`Cannot delete ${j.name}`, () => this.host.api.delete(`jobs/${j.id}`));
    }
  }
}

function clusterLabel(j: Job): string {
  if (j.cluster) {
    return j.cluster.name;
  }
  const n = j.new_cluster;
  return n ? `NEW ${n.instances} × ${n.instance_type}` : '—';
}
