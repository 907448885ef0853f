/** The platform's REST API as this Jupyter server serves it: <base_url>bodo/api/v1.
 *
 * Requests go through @jupyterlab/services' ServerConnection, so the server's token and
 * XSRF cookie are handled as for JupyterLab's own calls. Types are the contract's
 * (generated/api.ts, from openapi.yaml). */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { Error as ErrorBody, TaskStatus } from './generated/api';

export const API_PREFIX = 'bodo/api/v1';

/** A 4xx/5xx answer: the contract's error (code, message for people, field at fault). */
export class APIError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string
  ) {
    super(message);
    this.name = 'APIError';
  }
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  signal?: AbortSignal;
}

export class BodoAPI {
  readonly settings: ServerConnection.ISettings;

  constructor(settings?: ServerConnection.ISettings) {
    this.settings = settings ?? ServerConnection.makeSettings();
  }

  url(path: string, query?: Query): string {
    let url = URLExt.join(this.settings.baseUrl, API_PREFIX, path);
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== null && v !== '') {
        q.set(k, String(v));
      }
    }
    const qs = q.toString();
    if (qs) {
      url += '?' + qs;
    }
    return url;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const init: RequestInit = { method, signal: opts.signal };
    if (opts.body !== undefined) {
      init.body = JSON.stringify(opts.body);
      init.headers = { 'Content-Type': 'application/json' };
    }
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(
        this.url(path, opts.query),
        init,
        this.settings
      );
    } catch (err) {
      if ((err as Error)?.name === 'AbortError') {
        throw err;
      }
      throw new APIError(0, 'unavailable', `The Jupyter server did not answer: ${err}`);
    }
    const text = await response.text();
    let data: unknown = undefined;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!response.ok) {
      const e = (data as ErrorBody | undefined)?.error;
      throw new APIError(
        response.status,
        e?.code ?? 'error',
        e?.message ?? `${method} ${path}: HTTP ${response.status}`,
        e?.field
      );
    }
    return data as T;
  }

  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, { query, signal });
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('POST', path, { body: body ?? {} });
  }

  delete<T>(path: string): Promise<T> {
    return this.request<T>('DELETE', path);
  }
}

const ENDED: ReadonlySet<string> = new Set<TaskStatus>(['FINISHED', 'FAILED', 'CANCELLED']);

export function taskEnded(status: string): boolean {
  return ENDED.has(status);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise(resolve => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });
}
