import type { AppOutputMessage } from '@modelwatch/protocol';
import { windowOutput, type OutputWindow } from '../../host/src/domain/outputs.js';

/**
 * An output of one window as a test stores or publishes it: the runner's `windowOutput` (outcome
 * `ok`, version 1.0.0 unless given), by runner `test` on its first try, completed at the window's
 * end after 1 ms; `fill` sets the rest (rows, results, metrics, outcome...).
 */
export function testOutput(w: Omit<OutputWindow, 'version'> & { version?: string }, fill: Partial<AppOutputMessage> = {}): AppOutputMessage {
  return { ...windowOutput({ version: '1.0.0', ...w }, { runner: 'test', attempts: 1 }), durationMs: 1, completedAt: w.windowEnd, ...fill };
}
