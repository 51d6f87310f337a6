import type { MonitoringMetric, MonitoringResult } from '@modelwatch/sdk';
import type { ErrorData } from '../errors.js';
import type { Rows } from '../stream/events.js';

/** `mw.rows.<endpointId>.<windowStartMs>`: the rows of one event (or batch) that fall in that window. */
export interface RowBatch extends Rows {
  v: 1;
  /** Per column (features then outputs): values of the wrong type among these rows, made missing; absent when none. */
  wrongType?: number[];
}

/** One window of one endpoint for one version of an app: what a task and its output share. */
export interface WindowRef {
  v: 1;
  endpointId: string;
  endpointName: string;
  app: string;
  version: string;
  windowStart: number;
  windowEnd: number;
}

/** `mw.tasks.<app>`: analyse one window of one endpoint with one version of an app. */
export interface TaskMessage extends WindowRef {
  dispatchedAt: number;
  /**
   * The window starts of the `MW_ROWS` subjects to read, when not just `windowStart`: after a
   * period change, rows of this window may be filed under the old layout's windows that overlap
   * it. The runner keeps the rows whose time is in `[windowStart, windowEnd)`.
   */
  rowKeys?: number[];
}

export type WindowOutcome = 'ok' | 'empty' | 'error';

/** `mw.outputs.<endpointId>`: what an app made of one window, for the writer. */
export interface AppOutputMessage extends WindowRef {
  outcome: WindowOutcome;
  /** Rows in the window. */
  rows: number;
  results: MonitoringResult[];
  metrics: MonitoringMetric[];
  error?: ErrorData;
  /** Time in the sandbox. */
  durationMs: number;
  completedAt: number;
  runner: string;
  /** Which try produced this outcome (1 = the first). */
  attempts?: number;
}

/** Idempotency key of a window's analysis: the same for every delivery of it. */
export function windowKey(endpointId: string, app: string, windowStart: number): string {
  return `${endpointId}.${app}.${windowStart}`;
}
