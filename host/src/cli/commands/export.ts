import { writeFile } from 'node:fs/promises';
import { stringify } from 'csv-stringify/sync';
import type { CommandModule } from 'yargs';
import type { ProfileResolution, ResultsRollup, WindowProfile, WindowRecord } from '@modelwatch/protocol';
import type { ModelwatchClient } from '../../client/client.js';
import { parseTime } from '../../domain/time.js';
import { ModelwatchError } from '../../errors.js';
import { clientOf } from '../connect.js';
import type { GlobalArgs } from '../args.js';

export type ExportWhat = 'results' | 'profiles' | 'both';
export type ExportFormat = 'jsonl' | 'csv';

interface ExportArgs extends GlobalArgs {
  endpoint: string;
  app?: string;
  from: string;
  to?: string;
  what?: ExportWhat;
  resolution?: ProfileResolution;
  format?: ExportFormat;
  output?: string;
}

const CHOICES = {
  what: ['results', 'profiles', 'both'],
  resolution: ['window', 'hour', 'day'],
  format: ['jsonl', 'csv'],
} as const;

/** What `modelwatch export` writes: one item a JSON line, or one row per result/metric or feature in CSV. */
export type ExportItem = ({ type: 'window' } & WindowRecord) | ({ type: 'results-rollup' } & ResultsRollup) | ({ type: 'profile' } & WindowProfile);

/** The CSV columns, in order: results (and roll-ups) and profiles share one table, the other's columns empty. */
export const CSV_COLUMNS = [
  'type',
  'endpoint',
  'app',
  'version',
  'resolution',
  'window_start',
  'window_end',
  'windows',
  'rows',
  'outcome',
  'name',
  'result_kind',
  'status',
  'value',
  'min',
  'max',
  'feature',
  'feature_type',
  'count',
  'missing',
  'wrong_type',
  'mean',
  'std',
  'q25',
  'q50',
  'q75',
  'unique',
  'other',
  'hist_counts',
  'hist_edges',
  'categories',
] as const;

type CsvRow = Partial<Record<(typeof CSV_COLUMNS)[number], string | number | undefined>>;

const iso = (t: number) => new Date(t).toISOString();
const n = (v: number | null | undefined) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** An endpoint's results and/or profiles of `[from, to)` at a resolution, oldest first. */
export async function exportItems(
  client: ModelwatchClient,
  q: { endpoint: string; app?: string; from: number; to: number; what: ExportWhat; resolution: ProfileResolution },
): Promise<ExportItem[]> {
  const items: ExportItem[] = [];
  if (q.what !== 'profiles') {
    if (q.resolution === 'window') {
      const windows = await client.resultsInRange(q.endpoint, { from: q.from, to: q.to, ...(q.app && { app: q.app }) });
      items.push(...windows.map((w) => ({ type: 'window' as const, ...w })));
    } else {
      const rollups = await client.rollups(q.endpoint, { resolution: q.resolution, from: q.from, to: q.to, limit: 10_000, ...(q.app && { app: q.app }) });
      items.push(...rollups.map((r) => ({ type: 'results-rollup' as const, ...r })));
    }
  }
  if (q.what !== 'results') {
    const profiles = await client.profiles(q.endpoint, { from: q.from, to: q.to, resolution: q.resolution, limit: 10_000 });
    items.push(...profiles.map((p) => ({ type: 'profile' as const, ...p })));
  }
  return items;
}

/** The items as CSV rows: one per result or metric of a window (or roll-up), one per feature of a profile. */
export function csvRows(items: readonly ExportItem[]): CsvRow[] {
  const rows: CsvRow[] = [];
  for (const it of items) {
    if (it.type === 'window') {
      const base: CsvRow = {
        type: 'result',
        endpoint: it.endpointName,
        app: it.app,
        version: it.version,
        resolution: 'window',
        window_start: iso(it.windowStart),
        window_end: iso(it.windowEnd),
        windows: 1,
        rows: it.rows,
        outcome: it.outcome,
      };
      if (it.results.length + it.metrics.length === 0) rows.push(base);
      for (const r of it.results) rows.push({ ...base, name: r.name, result_kind: r.kind, status: r.status, value: r.value });
      for (const m of it.metrics) rows.push({ ...base, type: 'metric', name: m.name, value: m.value });
    } else if (it.type === 'results-rollup') {
      const base: CsvRow = {
        endpoint: it.endpointName,
        app: it.app,
        resolution: it.resolution,
        window_start: iso(it.start),
        window_end: iso(it.end),
      };
      for (const r of it.results) {
        rows.push({ ...base, type: 'result', name: r.name, result_kind: r.kind, status: r.status, windows: r.windows, value: r.mean, min: r.min, max: r.max });
      }
      for (const m of it.metrics) rows.push({ ...base, type: 'metric', name: m.name, windows: m.windows, value: m.mean, min: m.min, max: m.max });
    } else {
      const base: CsvRow = {
        type: 'profile',
        endpoint: it.endpoint,
        resolution: it.resolution ?? 'window',
        window_start: iso(it.windowStart),
        window_end: iso(it.windowEnd),
        windows: it.windows ?? 1,
        rows: it.rows,
      };
      for (const [feature, s] of Object.entries(it.features)) {
        const common = { ...base, feature, feature_type: s.type, count: s.count, missing: s.missing, wrong_type: s.wrongType ?? 0 };
        if (s.type === 'numeric') {
          rows.push({
            ...common,
            mean: n(s.mean),
            std: n(s.std),
            min: n(s.min),
            max: n(s.max),
            q25: n(s.quantiles['0.25']),
            q50: n(s.quantiles['0.5']),
            q75: n(s.quantiles['0.75']),
            hist_counts: JSON.stringify(s.hist.counts),
            hist_edges: JSON.stringify(s.hist.edges),
          });
        } else {
          rows.push({ ...common, unique: s.unique, other: s.other ?? 0, categories: JSON.stringify(s.frequencies) });
        }
      }
    }
  }
  return rows;
}

/** The items as text in the format. */
export function formatExport(items: readonly ExportItem[], format: ExportFormat): string {
  if (format === 'jsonl') return items.map((it) => `${JSON.stringify(it)}\n`).join('');
  return stringify(csvRows(items), { header: true, columns: [...CSV_COLUMNS] });
}

/** `modelwatch export`: an endpoint's results and window profiles of a range, as JSON Lines or CSV. */
export const exportCommand: CommandModule<GlobalArgs, ExportArgs> = {
  command: 'export',
  describe: "write an endpoint's results and window profiles of a range as JSON Lines or CSV",
  builder: (y) =>
    y
      .option('endpoint', { type: 'string', demandOption: true, describe: 'the endpoint' })
      .option('app', { type: 'string', describe: "only this app's results" })
      .option('from', { type: 'string', demandOption: true, describe: 'windows starting at or after this time (ISO or ms)' })
      .option('to', { type: 'string', describe: 'windows starting before this time (ISO or ms; default now)' })
      .option('what', { type: 'string', describe: 'results, profiles or both (default both)' })
      .option('resolution', { type: 'string', describe: "window (each window's own), hour or day (the roll-ups; default window)" })
      .option('format', { type: 'string', describe: 'jsonl (JSON Lines, one item a line) or csv (default jsonl)' })
      .option('output', { alias: 'o', type: 'string', describe: 'the file to write (default: standard output)' })
      .check((a) => {
        for (const [flag, allowed] of Object.entries(CHOICES)) {
          const v = a[flag] as unknown;
          if (v !== undefined && !allowed.includes(v as never)) throw new Error(`--${flag}: expected ${allowed.join(', ')}, got '${String(v)}'`);
        }
        return true;
      })
      .example('$0 export --endpoint churn --from 2026-11-01 --to 2026-12-01 --format csv -o churn.csv', '')
      .example('$0 export --endpoint churn --from 2026-01-01 --what profiles --resolution day -o churn-profiles.jsonl', '') as never,
  handler: async (args) => {
    const from = parseTime(args.from, '--from');
    const to = args.to === undefined ? Date.now() : parseTime(args.to, '--to');
    if (!(from < to)) throw new ModelwatchError('INVALID_ARGUMENT', `--from (${iso(from)}) must be before --to (${iso(to)})`);
    const items = await exportItems(clientOf(args), {
      endpoint: args.endpoint,
      from,
      to,
      what: args.what ?? 'both',
      resolution: args.resolution ?? 'window',
      ...(args.app && { app: args.app }),
    });
    const text = formatExport(items, args.format ?? 'jsonl');
    if (args.output === undefined || args.output === '-') process.stdout.write(text);
    else {
      await writeFile(args.output, text);
      process.stderr.write(`wrote ${items.length} item${items.length === 1 ? '' : 's'} to ${args.output}\n`);
    }
  },
};
