/** How the panel stays up to date without hammering the server.
 *
 * - A running task is followed with the API's long poll, GET /tasks/{id}?since=N&wait=S:
 *   one request per event (or per WAIT_S of quiet), news arrive at once.
 * - Lists are read by an idle poll that backs off: every MIN_MS after a change, each quiet
 *   read waits FACTOR times longer, up to MAX_MS; it pauses while the panel is hidden. */

import { BodoAPI, sleep, taskEnded } from './api';
import type { TaskDetail, TaskEvent } from './generated/api';

export const WAIT_S = 25;

export interface IdlePollOptions {
  /** Reads what the panel shows; true when something changed. */
  tick: () => Promise<boolean>;
  minMs?: number;
  maxMs?: number;
  factor?: number;
}

export class IdlePoll {
  readonly minMs: number;
  readonly maxMs: number;
  readonly factor: number;
  private delay: number;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running: Promise<void> | null = null;
  private paused = true;
  private disposed = false;

  constructor(private opts: IdlePollOptions) {
    this.minMs = opts.minMs ?? 10_000;
    this.maxMs = opts.maxMs ?? 60_000;
    this.factor = opts.factor ?? 1.6;
    this.delay = this.minMs;
  }

  /** Read now and start again from the shortest interval (after the user did something). */
  async now(): Promise<void> {
    this.delay = this.minMs;
    await this.run(true);
  }

  resume(): void {
    if (this.paused && !this.disposed) {
      this.paused = false;
      void this.run(true);
    }
  }

  pause(): void {
    this.paused = true;
    this.clear();
  }

  dispose(): void {
    this.disposed = true;
    this.pause();
  }

  private clear(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private async run(reset: boolean): Promise<void> {
    if (this.running) {
      return this.running;
    }
    this.clear();
    this.running = (async () => {
      let changed = false;
      try {
        changed = await this.opts.tick();
      } catch {
        changed = false; // the server is away: back off like a quiet read
      }
      this.delay =
        changed || reset ? this.minMs : Math.min(this.maxMs, this.delay * this.factor);
    })();
    try {
      await this.running;
    } finally {
      this.running = null;
      this.schedule();
    }
  }

  private schedule(): void {
    this.clear();
    if (this.paused || this.disposed) {
      return;
    }
    this.timer = setTimeout(() => void this.run(false), this.delay);
  }
}

/** Follow a task until it ends (or `signal` aborts), calling `onUpdate` with the task as
 * it is, its events so far accumulated. Network errors are retried with a backoff. */
export async function followTask(
  api: BodoAPI,
  id: string,
  onUpdate: (task: TaskDetail) => void,
  signal: AbortSignal
): Promise<TaskDetail | null> {
  let task: TaskDetail | null = null;
  let events: TaskEvent[] = [];
  let retry = 1000;
  while (!signal.aborted) {
    try {
      const next: TaskDetail = await api.get<TaskDetail>(
        `tasks/${encodeURIComponent(id)}`,
        task ? { since: task.last_seq, wait: WAIT_S } : { since: 0 },
        signal
      );
      retry = 1000;
      events = events.concat(next.events ?? []);
      task = { ...next, events };
      onUpdate(task);
      if (taskEnded(task.status)) {
        return task;
      }
    } catch (err) {
      if (signal.aborted) {
        break;
      }
      if ((err as { status?: number }).status === 404) {
        return task;
      }
      await sleep(retry, signal);
      retry = Math.min(retry * 2, 30_000);
    }
  }
  return task;
}
