/**
 * The endpoints of a file for `modelwatch endpoint create --from FILE`: JSON Lines (`.jsonl`,
 * `.ndjson`: one endpoint object a line), JSON (`.json`: an array of them, or `{ endpoints: [...] }`)
 * or CSV (`.csv`, a header naming the columns `name`, `features`, `labels`, `model_name`,
 * `model_version`, `tags`, `monitoring`; lists in a cell separated by `;`, tags as `k=v;k=v`).
 * A line or row that cannot be read is an item of its own that failed, with its line number;
 * the others are read.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse } from 'csv-parse/sync';
import type { CreateEndpointBody } from '../api/contract.js';
import { ModelwatchError } from '../errors.js';

/** One endpoint of the file: its body, or why it could not be read; `where`: its line ("line 3"). */
export type FileEndpoint = { where: string; body: CreateEndpointBody } | { where: string; error: string };

const CSV_COLUMNS = ['name', 'features', 'labels', 'model_name', 'model_version', 'tags', 'monitoring'];

const cellList = (s: string | undefined) =>
  (s ?? '')
    .split(';')
    .map((x) => x.trim())
    .filter(Boolean);

/** The endpoint of a CSV row, by column name. */
function csvItem(row: Record<string, string>): CreateEndpointBody {
  const tags: Record<string, string> = {};
  for (const t of cellList(row.tags)) {
    const eq = t.indexOf('=');
    if (eq <= 0) throw new Error(`tags: expected key=value pairs separated by ';', got '${t}'`);
    tags[t.slice(0, eq)] = t.slice(eq + 1);
  }
  const monitoring = row.monitoring?.trim().toLowerCase();
  if (monitoring && !['true', 'false'].includes(monitoring)) throw new Error(`monitoring: expected true or false, got '${row.monitoring}'`);
  return {
    name: (row.name ?? '').trim(),
    ...(row.features?.trim() && { featureNames: cellList(row.features) }),
    ...(row.labels?.trim() && { labelNames: cellList(row.labels) }),
    ...(row.model_name?.trim() && { modelName: row.model_name.trim() }),
    ...(row.model_version?.trim() && { modelVersion: row.model_version.trim() }),
    ...(Object.keys(tags).length && { tags }),
    ...(monitoring && { monitoring: monitoring === 'true' }),
  };
}

/**
 * Read the endpoints of a file, by its extension.
 * @throws {ModelwatchError} INVALID_ARGUMENT: an unknown extension, a file that cannot be read, JSON or a CSV header that is not one of endpoints
 */
export async function readEndpointFile(path: string): Promise<FileEndpoint[]> {
  const ext = extname(path).toLowerCase();
  if (!['.jsonl', '.ndjson', '.json', '.csv'].includes(ext)) {
    throw new ModelwatchError('INVALID_ARGUMENT', `${path}: use a .jsonl/.ndjson (one endpoint a line), .json (an array) or .csv (with a header) file`);
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ModelwatchError('INVALID_ARGUMENT', `cannot read ${path}: ${(err as Error).message}`);
  }
  if (ext === '.json') {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (err) {
      throw new ModelwatchError('INVALID_ARGUMENT', `${path}: not valid JSON: ${(err as Error).message}`);
    }
    const items = Array.isArray(v) ? v : (v as { endpoints?: unknown } | null)?.endpoints;
    if (!Array.isArray(items)) throw new ModelwatchError('INVALID_ARGUMENT', `${path}: expected a JSON array of endpoints, or { "endpoints": [...] }`);
    return items.map((body: unknown, i) => ({ where: `item ${i}`, body: body as CreateEndpointBody }));
  }
  if (ext === '.csv') {
    let rows: string[][];
    try {
      rows = parse(text, { skip_empty_lines: true, relax_column_count: true }) as string[][];
    } catch (err) {
      throw new ModelwatchError('INVALID_ARGUMENT', `${path}: not valid CSV: ${(err as Error).message}`);
    }
    const header = (rows[0] ?? []).map((h) => h.trim());
    const unknown = header.filter((h) => !CSV_COLUMNS.includes(h));
    if (!header.includes('name') || unknown.length) {
      throw new ModelwatchError(
        'INVALID_ARGUMENT',
        `${path}: the header must name the column 'name' and only these: ${CSV_COLUMNS.join(', ')}${unknown.length ? ` (unknown: ${unknown.join(', ')})` : ''}`,
      );
    }
    return rows.slice(1).map((cells, i) => {
      const where = `row ${i + 1}`;
      try {
        return { where, body: csvItem(Object.fromEntries(header.map((h, c) => [h, cells[c] ?? '']))) };
      } catch (err) {
        return { where, error: (err as Error).message };
      }
    });
  }
  const out: FileEndpoint[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const where = `line ${i + 1}`;
    try {
      out.push({ where, body: JSON.parse(line) as CreateEndpointBody });
    } catch (err) {
      out.push({ where, error: `not valid JSON: ${(err as Error).message}` });
    }
  });
  return out;
}
