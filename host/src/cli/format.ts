import Table from 'cli-table3';
import { resultKindName, resultStatusName, type ResultKind, type ResultStatus } from '@modelwatch/sdk';
import type { WindowRecord } from '@modelwatch/protocol';

/** Print rows as a table, or as JSON with --json. */
export function printTable(head: string[], rows: Array<Array<string | number>>, out: NodeJS.WritableStream = process.stdout): void {
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const r of rows) t.push(r.map(String));
  out.write(`${t.toString()}\n`);
}

export function printJson(value: unknown, out: NodeJS.WritableStream = process.stdout): void {
  out.write(`${JSON.stringify(value, null, 2)}\n`);
}

export const iso = (ms: number) => new Date(ms).toISOString();

/** One row per (endpoint, app, result, window); an empty or failed window is one row too. */
export interface ResultRow {
  endpoint: string;
  app: string;
  version: string;
  windowStart: string;
  windowEnd: string;
  rows: number;
  outcome: WindowRecord['outcome'];
  result: string | null;
  kind: string | null;
  status: string | null;
  value: number | null;
  extraData?: unknown;
  error?: string;
}

export function resultRows(windows: WindowRecord[]): ResultRow[] {
  const out: ResultRow[] = [];
  for (const w of windows) {
    const base = {
      endpoint: w.endpointName,
      app: w.app,
      version: w.version,
      windowStart: iso(w.windowStart),
      windowEnd: iso(w.windowEnd),
      rows: w.rows,
      outcome: w.outcome,
    };
    if (w.outcome !== 'ok' || w.results.length === 0) {
      out.push({
        ...base,
        result: null,
        kind: null,
        status: w.outcome === 'ok' ? 'no results' : w.outcome,
        value: null,
        ...(w.error ? { error: w.error.message } : {}),
      });
      continue;
    }
    for (const r of w.results) {
      out.push({
        ...base,
        result: r.name,
        kind: resultKindName[r.kind as ResultKind] ?? String(r.kind),
        status: resultStatusName[r.status as ResultStatus] ?? String(r.status),
        value: r.value,
        extraData: r.extraData,
      });
    }
  }
  return out;
}

export function fmtValue(v: number | null): string {
  if (v === null) return '-';
  return Math.abs(v) >= 1e4 || (v !== 0 && Math.abs(v) < 1e-3) ? v.toExponential(3) : v.toFixed(4);
}
