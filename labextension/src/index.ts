/** bodo-jupyter in JupyterLab: the "Bodo" sidebar (onboarding, clusters) and commands. */

import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, InputDialog, Notification } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

import { BodoPanel, COMMANDS } from './panel';

export { BodoAPI, APIError } from './api';
export { FormView, fieldFor } from './formview';
export { BodoPanel } from './panel';

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <circle cx="12" cy="5" r="3"/><circle cx="5" cy="18" r="3"/><circle cx="19" cy="18" r="3"/>
    <path d="M11 7.5h2v4.2l5.2 3.6-1.1 1.6L12 13.4l-5.1 3.5-1.1-1.6 5.2-3.6z"/>
  </g>
</svg>`;

export const bodoIcon = new LabIcon({ name: 'bodo-jupyter:cluster', svgstr: ICON_SVG });

/** The code the attach command runs in the notebook's kernel. */
export function attachCode(cluster: string): string {
  return `%load_ext bodo_jupyter\n%bodo attach ${cluster}`;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'bodo-jupyter:sidebar',
  description: 'The Bodo sidebar: onboarding and clusters of the bodo-jupyter platform.',
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer, INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    notebooks: INotebookTracker | null
  ) => {
    const panel = new BodoPanel(app.commands);
    panel.title.icon = bodoIcon;
    app.shell.add(panel, 'left', { rank: 850 });
    restorer?.add(panel, panel.id);

    app.commands.addCommand(COMMANDS.open, {
      label: 'Open the Bodo sidebar',
      caption: 'Clusters and onboarding of the bodo-jupyter platform',
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(COMMANDS.createCluster, {
      label: 'Create a Bodo cluster…',
      execute: () => {
        panel.openCreateForm();
        app.shell.activateById(panel.id); // then focuses the form (onActivateRequest)
      }
    });
    app.commands.addCommand(COMMANDS.refresh, {
      label: 'Refresh the Bodo sidebar',
      execute: () => panel.refresh()
    });
    app.commands.addCommand(COMMANDS.attach, {
      label: args =>
        args.cluster
          ? `Attach the current notebook to ${args.cluster}`
          : 'Attach the current notebook to a Bodo cluster…',
      caption: 'Runs %load_ext bodo_jupyter and %bodo attach NAME in the notebook’s kernel',
      isEnabled: () => !!notebooks?.currentWidget,
      execute: async args => {
        const nb = notebooks?.currentWidget;
        if (!nb) {
          Notification.warning('Open a notebook first: the cluster is attached to its kernel.');
          return;
        }
        let cluster = args.cluster as string | undefined;
        if (!cluster) {
          await panel.refresh(); // the panel may never have been opened
          const running = panel.runningClusters();
          if (!running.length) {
            Notification.warning('No RUNNING cluster to attach to: create one first.');
            return;
          }
          const choice = await InputDialog.getItem({
            title: 'Attach the current notebook to',
            items: running
          });
          if (!choice.button.accept || !choice.value) {
            return;
          }
          cluster = choice.value;
        }
        await nb.sessionContext.ready;
        const kernel = nb.sessionContext.session?.kernel;
        if (!kernel) {
          Notification.warning(`${nb.title.label} has no kernel to attach.`);
          return;
        }
        const id = Notification.emit(`Attaching ${nb.title.label} to ${cluster}…`, 'in-progress', {
          autoClose: false
        });
        let out = '';
        let error = '';
        const future = kernel.requestExecute({
          code: attachCode(cluster),
          store_history: false,
          stop_on_error: true
        });
        future.onIOPub = msg => {
          const c = msg.content as Record<string, unknown>;
          if (msg.header.msg_type === 'stream') {
            out += String(c.text ?? '');
          } else if (msg.header.msg_type === 'error') {
            error = `${c.ename}: ${c.evalue}`;
          }
        };
        await future.done;
        const lines = out.trim().split('\n').filter(l => !l.includes('already loaded'));
        if (error) {
          Notification.update({ id, message: `Not attached: ${error}`, type: 'error' });
        } else {
          panel.markAttached();
          Notification.update({
            id,
            message: lines.join(' ') || `Attached to ${cluster}.`,
            type: 'success',
            autoClose: 8000
          });
          void panel.refresh();
        }
      }
    });
    if (notebooks) {
      notebooks.currentChanged.connect(() => app.commands.notifyCommandChanged(COMMANDS.attach));
    }
    if (palette) {
      for (const command of Object.values(COMMANDS)) {
        palette.addItem({ command, category: 'Bodo' });
      }
    }
  }
};

export default plugin;
