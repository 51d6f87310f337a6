import type { DryRunResult } from '@modelwatch/protocol';

/** The line a failed dry run prints: the endpoint (or what it ran on), the error with the plugin's file and line. */
export function dryRunWarning(r: DryRunResult, on = `endpoint '${r.endpoint}'`): string {
  return `dry run on ${on} failed: ${r.error?.code ?? 'APP_ERROR'}: ${r.error?.message ?? 'no message'}`;
}
