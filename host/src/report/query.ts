import { timeOrAgo } from '../config/duration.js';
import { InvalidArgumentError } from '../errors.js';
import type { ReportQuery } from './model.js';

/** The default range of a report without `from`, `window` or `batch`: the last day. */
export const DEFAULT_REPORT_RANGE_MS = 86_400_000;

/** What a report is asked, as the CLI and the route take it (times as text). */
export interface ReportArgs {
  endpoint: string;
  app?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  window?: string | undefined;
  batch?: string | undefined;
}

/**
 * The report's query from its arguments: `window` alone, or `from`/`to` (default: the last day,
 * except for a batch, whose windows are past ones: all of them).
 */
export function resolveReportQuery(a: ReportArgs, now = Date.now()): ReportQuery {
  if (a.window !== undefined && (a.from !== undefined || a.to !== undefined))
    throw new InvalidArgumentError('window: give one window, or a range with from and to, not both');
  const q: ReportQuery = { endpoint: a.endpoint };
  if (a.app) q.app = a.app;
  if (a.batch) q.batch = a.batch;
  if (a.window !== undefined) {
    q.window = timeOrAgo(a.window, 'window', now);
    return q;
  }
  if (a.from !== undefined) q.from = timeOrAgo(a.from, 'from', now);
  else if (a.batch === undefined) q.from = now - DEFAULT_REPORT_RANGE_MS;
  if (a.to !== undefined) q.to = timeOrAgo(a.to, 'to', now);
  if (q.from !== undefined && q.to !== undefined && q.to <= q.from)
    throw new InvalidArgumentError(`to: must be after from (${new Date(q.from).toISOString()})`);
  return q;
}

/** A file name of only safe characters: `modelwatch-report-<endpoint>-<time>.html`. */
export function reportFileName(endpoint: string, at: Date): string {
  return `modelwatch-report-${endpoint.replace(/[^A-Za-z0-9_.-]/g, '_')}-${at.toISOString().replace(/[:.]/g, '-')}.html`;
}
