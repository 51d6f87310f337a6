import type { AppOutputMessage, ErrorData, WindowRef } from '@modelwatch/protocol';

/** The window an output is of. */
export type OutputWindow = Omit<WindowRef, 'v'>;

/** Who produced an output: a runner's name (or `supervisor`, `controller`), and which try it was. */
export interface OutputSource {
  runner: string;
  attempts: number;
}

/** The output of a window, to be filled in: outcome `ok`, no rows, results or metrics yet. */
export function windowOutput(w: OutputWindow, by: OutputSource): AppOutputMessage {
  return {
    v: 1,
    endpointId: w.endpointId,
    endpointName: w.endpointName,
    app: w.app,
    version: w.version,
    windowStart: w.windowStart,
    windowEnd: w.windowEnd,
    ...(w.shadow ? { shadow: true as const } : {}),
    outcome: 'ok',
    rows: 0,
    results: [],
    metrics: [],
    durationMs: 0,
    completedAt: 0,
    runner: by.runner,
    attempts: by.attempts,
  };
}

/**
 * The output of a window that failed (`error`, whose message says where): a runner's after its
 * tries, or the supervisor's for a window whose app crashed its runner (`crashError`).
 */
export function failedOutput(w: OutputWindow, error: ErrorData, by: OutputSource & { rows?: number }): AppOutputMessage {
  return { ...windowOutput(w, by), rows: by.rows ?? 0, outcome: 'error', error, completedAt: Date.now() };
}

/**
 * The output of a window without rows, for an app not called on empty windows: what a runner
 * would publish for its task, which the controller publishes itself instead (no task is sent).
 */
export function emptyOutput(w: OutputWindow, by: OutputSource, at: number): AppOutputMessage {
  return { ...windowOutput(w, by), outcome: 'empty', completedAt: at };
}
