/** Reference data: a reference file (CSV, JSON Lines, JSON) parsed into columns, and the statistics of an endpoint's columns. */
import { parse } from 'csv-parse/sync';
import type { CellValue, FeatureStatsMap } from '@modelwatch/sdk';
import { referenceStatsMap } from '@modelwatch/sdk/stats';
import type { ReferenceTable } from '@modelwatch/protocol';
import { ModelwatchError } from '../errors.js';
import { dict } from './dict.js';

export type ReferenceFormat = 'csv' | 'jsonl' | 'json';

const MAX_REFERENCE_ROWS = 5_000_000;

/** Parse a reference file: CSV with a header, JSON Lines of objects, or a JSON array of objects. */
export function parseReference(text: string, format: ReferenceFormat): ReferenceTable {
  let records: Array<Record<string, unknown>>;
  if (format === 'csv') {
    try {
      records = parse(text, {
        columns: true,
        skip_empty_lines: true,
        trim: true,
        cast: (value: string, ctx: { header: boolean }) => {
          if (ctx.header) return value;
          if (value === '') return null;
          const n = Number(value);
          return Number.isFinite(n) && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(value) ? n : value;
        },
      }) as Array<Record<string, unknown>>;
    } catch (err) {
      throw new ModelwatchError('INVALID_REFERENCE', `reference CSV: ${(err as Error).message}`);
    }
  } else if (format === 'jsonl') {
    records = [];
    text.split('\n').forEach((line, i) => {
      if (!line.trim()) return;
      try {
        const v = JSON.parse(line) as unknown;
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('expected an object of column -> value');
        records.push(v as Record<string, unknown>);
      } catch (err) {
        throw new ModelwatchError('INVALID_REFERENCE', `reference JSON Lines, line ${i + 1}: ${(err as Error).message}`);
      }
    });
  } else {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (err) {
      throw new ModelwatchError('INVALID_REFERENCE', `reference JSON: ${(err as Error).message}`);
    }
    if (!Array.isArray(v)) throw new ModelwatchError('INVALID_REFERENCE', 'reference JSON: expected an array of row objects');
    records = v as Array<Record<string, unknown>>;
  }
  return tableOf(records);
}

export function tableOf(records: Array<Record<string, unknown>>): ReferenceTable {
  if (records.length === 0) throw new ModelwatchError('INVALID_REFERENCE', 'reference: no rows');
  if (records.length > MAX_REFERENCE_ROWS)
    throw new ModelwatchError('INVALID_REFERENCE', `reference: ${records.length} rows, over the limit of ${MAX_REFERENCE_ROWS}`);
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const r of records) {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) throw new ModelwatchError('INVALID_REFERENCE', 'reference: every row must be an object');
    for (const k of Object.keys(r)) {
      if (seen.has(k)) continue;
      seen.add(k);
      columns.push(k);
    }
  }
  // column names are the uploaded rows' keys: an object without a prototype holds them
  const values = dict<CellValue[]>();
  for (const c of columns) values[c] = new Array<CellValue>(records.length);
  records.forEach((r, i) => {
    for (const c of columns) {
      const v = r[c];
      if (v === undefined || v === null) values[c]![i] = null;
      else if (typeof v === 'number') {
        if (!Number.isFinite(v)) throw new ModelwatchError('INVALID_REFERENCE', `reference row ${i + 1}, column '${c}': ${v} is not a finite number`);
        values[c]![i] = v;
      } else if (typeof v === 'string') values[c]![i] = v;
      else if (typeof v === 'boolean') values[c]![i] = v ? 1 : 0;
      else throw new ModelwatchError('INVALID_REFERENCE', `reference row ${i + 1}, column '${c}': expected a number or string`);
    }
  });
  return { columns, values, rows: records.length };
}

/** Reference statistics of the endpoint's columns; the columns it must have are checked. */
export function referenceStatsFor(table: ReferenceTable, featureNames: readonly string[], labelNames: readonly string[]): FeatureStatsMap {
  const missing = featureNames.filter((f) => !Object.hasOwn(table.values, f));
  if (missing.length) {
    throw new ModelwatchError(
      'INVALID_REFERENCE',
      `reference: no column for feature(s) ${missing.map((m) => `'${m}'`).join(', ')} (it has: ${table.columns.join(', ')})`,
    );
  }
  const wanted = dict<CellValue[]>();
  for (const name of [...featureNames, ...labelNames]) if (Object.hasOwn(table.values, name)) wanted[name] = table.values[name]!;
  return referenceStatsMap(wanted);
}
