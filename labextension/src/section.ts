/** What a section of the sidebar (Jobs, Notebooks, Settings) gets from the panel. */

import type { CommandRegistry } from '@lumino/commands';

import type { BodoAPI } from './api';
import type { Choice, Values } from './formview';
import type { Cluster, Info, TaskDetail } from './generated/api';

export interface SectionHost {
  readonly api: BodoAPI;
  readonly commands: CommandRegistry;
  info(): Info | null;
  clusters(): Cluster[];
  /** The live lists forms name in choices_from. */
  choices(from: string, values: Values, form: string): Promise<Choice[]>;
  /** Follow a task by long poll; `onUpdate` on each piece of news. */
  follow(taskId: string, onUpdate?: (task: TaskDetail) => void): void;
  /** Read everything again soon (something changed). */
  refreshSoon(): void;
  /** Show another section (settings, from a banner). */
  showSection(section: string): void;
}

export interface Section {
  readonly id: string;
  readonly label: string;
  readonly node: HTMLElement;
  /** One read of what the section shows; true when something changed. */
  tick(): Promise<boolean>;
  dispose(): void;
}

/** "2026-01-31 09:00" in the browser's time zone. */
export function when(iso: string | null | undefined): string {
  if (!iso) {
    return '—';
  }
  const d = new Date(iso);
  return isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
