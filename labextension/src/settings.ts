/** Settings: the organisation's AWS account (the declared AWS_CREDENTIALS form, the
 * launch-permission task's progress, a ready indicator) and the minimal IAM policy with a
 * copy button and the commands that create it. */

import { Clipboard, Dialog, Notification, showDialog } from '@jupyterlab/apputils';

import { APIError, taskEnded } from './api';
import { badge, h, nodes } from './dom';
import { FormView } from './formview';
import type { AwsAccount, TaskDetail } from './generated/api';
import { FORMS } from './generated/forms';
import { message, Section, SectionHost, when } from './section';
// The policy the AWS provider needs (config/iam/, checked against the code's list of calls
// by the test suite), bundled into the extension at build time.
import POLICY from '../../config/iam/bodo-platform-policy.json';

const AWS_FORM = FORMS['aws-credentials'];
export const POLICY_TEXT = JSON.stringify(POLICY, null, 2);
export const POLICY_NAME = 'bodo-platform';
export const CREATE_POLICY = [
  `aws iam create-policy --policy-name ${POLICY_NAME} --policy-document file://bodo-platform-policy.json`,
  `# or, with the same AWS credentials in your environment:`,
  `bodo-jupyter aws create-policy --name ${POLICY_NAME}`
].join('\n');

export class SettingsSection implements Section {
  readonly id = 'settings';
  readonly label = 'Settings';
  readonly node: HTMLElement;
  account: AwsAccount | null = null;
  private loaded = false;
  private task: TaskDetail | null = null;
  private followed = '';
  private form: FormView;
  private accountSlot = h('div', { class: 'jp-bodo-account' });

  constructor(private host: SectionHost) {
    this.form = new FormView(AWS_FORM, {
      submitLabel: 'Save',
      choices: async () => [],
      onSubmit: async (_values, view) => {
        const account = await this.host.api.request<AwsAccount>('PUT', 'aws/credentials', {
          body: view.body()
        });
        this.account = account;
        for (const name of ['secret_access_key']) {
          const input = view.input(name);
          if (input) {
            input.value = '';
          }
        }
        this.followGrant();
        this.render();
        this.host.refreshSoon();
      }
    });
    const copy = h(
      'button',
      {
        class: 'jp-mod-styled',
        'aria-label': 'Copy the IAM policy',
        onclick: () => {
          Clipboard.copyToSystem(POLICY_TEXT);
          Notification.success('The IAM policy is on the clipboard.', { autoClose: 3000 });
        }
      },
      'Copy'
    );
    const copyCommand = h(
      'button',
      {
        class: 'jp-mod-styled',
        'aria-label': 'Copy the create-policy command',
        onclick: () => {
          Clipboard.copyToSystem(CREATE_POLICY.split('\n')[0]);
          Notification.success('The command is on the clipboard.', { autoClose: 3000 });
        }
      },
      'Copy'
    );
    this.node = h(
      'section',
      { class: 'jp-bodo-section jp-bodo-settings', 'aria-label': 'Settings' },
      h('h2', {}, 'AWS account'),
      this.accountSlot,
      this.form.node,
      h('h2', {}, 'Minimal IAM policy'),
      h(
        'p',
        { class: 'jp-bodo-help' },
        'Create this policy in your AWS account and attach it to the IAM user (or group) ',
        'whose access keys you give above; the platform needs nothing more.'
      ),
      h(
        'div',
        { class: 'jp-bodo-code-head' },
        h('span', {}, 'bodo-platform-policy.json'),
        h(
          'a',
          {
            class: 'jp-bodo-link',
            download: 'bodo-platform-policy.json',
            href: 'data:application/json;charset=utf-8,' + encodeURIComponent(POLICY_TEXT)
          },
          'Download'
        ),
        copy
      ),
      h('pre', { class: 'jp-bodo-code jp-bodo-policy', tabindex: 0, 'aria-label': 'IAM policy' }, POLICY_TEXT),
      h('div', { class: 'jp-bodo-code-head' }, h('span', {}, 'Create it'), copyCommand),
      h('pre', { class: 'jp-bodo-code', 'aria-label': 'create-policy command' }, CREATE_POLICY)
    );
    this.render();
  }

  dispose(): void {
    /* the panel owns the followers */
  }

  async tick(): Promise<boolean> {
    const before = JSON.stringify(this.account);
    try {
      this.account = await this.host.api.get<AwsAccount>('aws/credentials');
    } catch (err) {
      if (!(err instanceof APIError && err.status === 404)) {
        throw err;
      }
      this.account = null;
    }
    this.loaded = true;
    this.followGrant();
    this.render();
    return before !== JSON.stringify(this.account);
  }

  /** Follow the launch-permission task (aws.grant-image) while it runs. */
  private followGrant(): void {
    const id = this.account?.task_id;
    if (!id || id === this.followed || this.account?.status !== 'INPROGRESS') {
      return;
    }
    this.followed = id;
    this.host.follow(id, t => {
      this.task = t;
      this.render();
      if (taskEnded(t.status)) {
        this.host.refreshSoon();
      }
    });
  }

  private render(): void {
    const awsEnabled = !!this.host.info()?.providers.some(p => p.name === 'aws');
    const a = this.account;
    const note = awsEnabled
      ? null
      : h(
          'p',
          { class: 'jp-bodo-banner' },
          'This platform does not offer the AWS provider (c.ControlPlane.enabled_providers): ',
          'its clusters run on this machine and need no credentials.'
        );
    if (!this.loaded) {
      this.accountSlot.replaceChildren(...nodes(note, h('p', { class: 'jp-bodo-help' }, 'Loading…')));
      return;
    }
    if (!a) {
      this.accountSlot.replaceChildren(
        ...nodes(
          note,
          h('p', { class: 'jp-bodo-help', 'data-account': 'none' }, 'No AWS account linked yet.')
        )
      );
      return;
    }
    const t = this.task && this.task.id === a.task_id ? this.task : null;
    this.accountSlot.replaceChildren(
      ...nodes(
        note,
        h(
          'div',
          { class: 'jp-bodo-account-line', 'data-account': a.status },
          h('span', { class: `jp-bodo-ready${a.ready ? ' jp-mod-done' : ''}`, 'aria-hidden': 'true' }, a.ready ? '✓' : '…'),
          h('span', {}, `Account ${a.account_id} · ${a.region} · key ${a.access_key_id}`),
          badge(a.status)
        ),
        a.status_message ? h('p', { class: 'jp-bodo-help' }, a.status_message) : null,
        t && !taskEnded(t.status)
          ? h(
              'div',
              { class: 'jp-bodo-task-head' },
              h('span', {}, 'Launch permission for the platform’s image'),
              h('progress', { max: 100, value: Math.round(t.progress * 100) })
            )
          : null,
        h('p', { class: 'jp-bodo-help' }, `Updated ${when(a.updated_at)}`),
        h(
          'button',
          { class: 'jp-bodo-link jp-bodo-danger', onclick: () => void this.unlink() },
          'Remove these credentials'
        )
      )
    );
  }

  private async unlink(): Promise<void> {
    const answer = await showDialog({
      title: 'Remove the AWS credentials?',
      body: 'AWS clusters cannot be created until credentials are linked again.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await this.host.api.delete('aws/credentials');
      this.account = null;
      this.render();
    } catch (err) {
      Notification.error(`Cannot remove the credentials: ${message(err)}`, { autoClose: false });
    }
    this.host.refreshSoon();
  }
}
