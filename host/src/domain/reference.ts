/** Reference data: a reference file (CSV, JSON Lines, JSON) parsed into columns, and the statistics of an endpoint's columns. */
import { parse } from 'csv-parse/sync';
import type { CellValue, FeatureStatsMap } from '@modelwatch/sdk';
import { referenceStatsMap } from '@modelwatch/sdk/stats';
import type { ReferenceTable } from '@modelwatch/protocol';
import { ModelwatchError } from '../errors.js';
import { DEFAULT_MAX_FEATURES, namesProblem } from './names.js';
import { dict } from './dict.js';

export type ReferenceFormat = 'csv' | 'jsonl' | 'json';

const MAX_REFERENCE_ROWS = 5_000_000;

/** A CSV cell read as a number: decimal, with an optional sign, fraction and exponent. */
const CSV_NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
/**
 * Whether a CSV cell not read as a number writes an infinite one: `inf`, `Infinity` (as
 * JavaScript, Python and pandas write them), or a number past a double's range (`1e999`).
 */
function nonFiniteText(cell: string): boolean {
  return /^[-+]?(inf|infinity)$/i.test(cell) || CSV_NUMBER.test(cell);
}
/** A CSV cell of a missing value besides an empty one: `nan`/`NaN`, as numpy's `savetxt` writes one (and pandas reads it). */
const NAN_TEXT = /^[-+]?nan$/i;

/** Parse a reference file: CSV with a header, JSON Lines of objects, or a JSON array of objects. */
export function parseReference(text: string, format: ReferenceFormat): ReferenceTable {
  let records: Array<Record<string, unknown>>;
  let nonFinite = false;
  if (format === 'csv') {
    try {
      records = parse(text, {
        columns: true,
        skip_empty_lines: true,
        trim: true,
        cast: (value: string, ctx: { header: boolean }) => {
          if (ctx.header) return value;
          if (value === '' || NAN_TEXT.test(value)) return null;
          const n = Number(value);
          if (Number.isFinite(n) && CSV_NUMBER.test(value)) return n;
          if (nonFiniteText(value)) nonFinite = true;
          return value;
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
  const table = tableOf(records);
  if (nonFinite) refuseNonFinite(table);
  return table;
}

/**
 * Refuse a CSV column of numbers with a cell that writes an infinite number (`inf`, `-Infinity`,
 * `1e999`), naming the first such cell: read as text, it would make the column categorical, and
 * its statistics those of strings. (A JSON reference cannot hold such a number, and `tableOf`
 * refuses one.) A column with other text keeps such a cell as a category. A missing value is an
 * empty cell or `nan`.
 */
function refuseNonFinite(table: ReferenceTable): void {
  for (const c of table.columns) {
    const values = table.values[c]!;
    let first = -1;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (typeof v !== 'string') continue;
      if (!nonFiniteText(v)) {
        first = -1;
        break;
      }
      if (first < 0) first = i;
    }
    if (first >= 0) {
      throw new ModelwatchError(
        'INVALID_REFERENCE',
        `reference row ${first + 1}, column '${c}': ${String(values[first])} is not a finite number (a column of numbers takes finite numbers only; a missing value's cell is empty or nan)`,
      );
    }
  }
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
  checkReferenceColumns(table.columns, featureNames);
  const wanted = dict<CellValue[]>();
  for (const name of [...featureNames, ...labelNames]) if (Object.hasOwn(table.values, name)) wanted[name] = table.values[name]!;
  return referenceStatsMap(wanted);
}

function checkReferenceColumns(columns: readonly string[], featureNames: readonly string[]): void {
  const has = new Set(columns);
  const missing = featureNames.filter((f) => !has.has(f));
  if (missing.length) {
    throw new ModelwatchError(
      'INVALID_REFERENCE',
      `reference: no column for feature(s) ${missing.map((m) => `'${m}'`).join(', ')} (it has: ${columns.join(', ')})`,
    );
  }
}

/**
 * The feature names a reference gives an endpoint: its declared ones, or (none declared) the
 * reference's columns that are not outputs, checked as declared names are (`namesProblem`).
 * @throws {ModelwatchError} INVALID_REFERENCE
 */
export function referenceFeatureNames(
  columns: readonly string[],
  featureNames: readonly string[],
  labelNames: readonly string[],
  maxFeatures: number = DEFAULT_MAX_FEATURES,
): string[] {
  if (featureNames.length) return [...featureNames];
  const inferred = columns.filter((c) => !labelNames.includes(c));
  const problem = namesProblem(inferred, 'feature names from the reference columns', maxFeatures);
  if (problem) throw new ModelwatchError('INVALID_REFERENCE', problem);
  return inferred;
}

/**
 * The feature names a reference gives an endpoint of these names, its columns checked against
 * them: what {@link prepareReference} checks, without the statistics (`endpoint create` checks a
 * file so before it creates anything).
 * @throws {ModelwatchError} INVALID_REFERENCE
 */
export function checkReference(
  table: ReferenceTable,
  endpoint: { featureNames: readonly string[]; labelNames: readonly string[] },
  maxFeatures: number = DEFAULT_MAX_FEATURES,
): string[] {
  const featureNames = referenceFeatureNames(table.columns, endpoint.featureNames, endpoint.labelNames, maxFeatures);
  checkReferenceColumns(table.columns, featureNames);
  return featureNames;
}

/**
 * A reference made ready to store (off the event loop, see `api/body-workers.ts`): the table
 * encoded as the object store keeps it, and the statistics of the columns the endpoint had when
 * it was read. `EndpointStore.setReference` takes it as it takes a table.
 */
export interface PreparedReference {
  columns: string[];
  rows: number;
  /** The table as JSON, UTF-8. */
  encoded: Uint8Array;
  /** Statistics by column, of `featureNames` and `labelNames` as they were. */
  stats: FeatureStatsMap;
  featureNames: string[];
  labelNames: string[];
}

/** Encode a reference table and compute the statistics of an endpoint's columns. @throws {ModelwatchError} INVALID_REFERENCE */
export function prepareReference(
  table: ReferenceTable,
  endpoint: { featureNames: readonly string[]; labelNames: readonly string[] },
  maxFeatures: number = DEFAULT_MAX_FEATURES,
): PreparedReference {
  const featureNames = checkReference(table, endpoint, maxFeatures);
  const labelNames = [...endpoint.labelNames];
  return {
    columns: table.columns,
    rows: table.rows,
    encoded: new TextEncoder().encode(JSON.stringify(table)),
    stats: referenceStatsFor(table, featureNames, labelNames),
    featureNames,
    labelNames,
  };
}

/** Whether a reference is prepared (`prepareReference`) rather than a table. */
export function isPreparedReference(r: ReferenceTable | PreparedReference): r is PreparedReference {
  return 'encoded' in r;
}
