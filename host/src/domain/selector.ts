import { ModelwatchError } from '../errors.js';

/**
 * Endpoint tags (`key=value`, MLRun's endpoint labels) and the selectors that pick endpoints by
 * them, in the syntax of Kubernetes label selectors: requirements separated by commas, all of
 * which must hold:
 *
 * - `k=v` or `k==v`: the tag is `v`; `k!=v`: the tag is not `v` (or is missing)
 * - `k in (a,b)`: the tag is one of them; `k notin (a,b)`: it is none of them (or is missing)
 * - `k`: the endpoint has the tag; `!k`: it has not
 */

/** A tag key: 1-63 letters, digits, `-`, `_` or `.`, beginning and ending with a letter or digit, optionally after a `prefix/`. */
export const TAG_KEY = /^(?:[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
/** A tag value: empty, or 1-63 letters, digits, `-`, `_` or `.`, beginning and ending with a letter or digit. */
export const TAG_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;

export type Requirement = { key: string; op: 'in' | 'notin'; values: string[] } | { key: string; op: 'exists' | 'absent' };

/** A parsed selector: every requirement must hold. No requirement selects everything. */
export interface Selector {
  source: string;
  requirements: Requirement[];
}

const fail = (source: string, problem: string): never => {
  throw new ModelwatchError('INVALID_ARGUMENT', `selector '${source}': ${problem}`);
};

function checkKey(source: string, key: string): string {
  if (key === '') fail(source, 'a requirement has no key');
  if (!TAG_KEY.test(key))
    fail(source, `'${key}' is not a valid tag key (letters, digits, '-', '_', '.', at most 63, beginning and ending with a letter or digit)`);
  return key;
}

function checkValue(source: string, key: string, value: string): string {
  if (!TAG_VALUE.test(value))
    fail(source, `'${value}' (of '${key}') is not a valid tag value (letters, digits, '-', '_', '.', at most 63, beginning and ending with a letter or digit)`);
  return value;
}

/** Split at the commas that are outside parentheses. */
function splitRequirements(source: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of source) {
    if (ch === '(') {
      if (depth > 0) fail(source, "'(' inside a set: sets do not nest");
      depth++;
    } else if (ch === ')') {
      if (depth === 0) fail(source, "')' without its '('");
      depth--;
    }
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (depth > 0) fail(source, "a set's '(' is never closed");
  out.push(cur);
  return out;
}

function parseRequirement(source: string, text: string): Requirement {
  const t = text.trim();
  if (t === '') fail(source, 'an empty requirement (two commas in a row, or one at an end)');
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(t);
  if (set) {
    const key = checkKey(source, set[1]!);
    const values = set[3]!.split(',').map((v) => v.trim());
    if (values.length === 1 && values[0] === '') fail(source, `the set of '${key} ${set[2]}' is empty`);
    for (const v of values) checkValue(source, key, v);
    return { key, op: set[2] as 'in' | 'notin', values };
  }
  if (/\s(in|notin)\b/.test(t) || /^\S+\s*\(/.test(t)) fail(source, `'${t}': write a set as 'key in (a,b)' or 'key notin (a,b)'`);
  const eq = /^([^=!\s]*)\s*(==|!=|=)\s*(.*)$/.exec(t);
  if (eq) {
    const key = checkKey(source, eq[1]!);
    const value = eq[3]!.trim();
    if (/[=!]/.test(value)) fail(source, `'${t}': one operator per requirement`);
    checkValue(source, key, value);
    return { key, op: eq[2] === '!=' ? 'notin' : 'in', values: [value] };
  }
  if (t.startsWith('!')) return { key: checkKey(source, t.slice(1).trim()), op: 'absent' };
  if (/\s/.test(t)) fail(source, `'${t}': expected 'key', '!key', 'key=value', 'key!=value', 'key in (a,b)' or 'key notin (a,b)'`);
  return { key: checkKey(source, t), op: 'exists' };
}

/** Parse a selector; `INVALID_ARGUMENT` naming the problem when it is malformed. An empty selector selects everything. */
export function parseSelector(source: string): Selector {
  if (typeof source !== 'string') throw new ModelwatchError('INVALID_ARGUMENT', `selector: expected a string, got ${JSON.stringify(source)}`);
  if (source.trim() === '') return { source, requirements: [] };
  return { source, requirements: splitRequirements(source).map((r) => parseRequirement(source, r)) };
}

/** Whether tags satisfy every requirement of the selector. */
export function matchesSelector(selector: Selector, tags: Readonly<Record<string, string>> | undefined): boolean {
  const has = (k: string) => tags !== undefined && Object.hasOwn(tags, k);
  return selector.requirements.every((r) => {
    switch (r.op) {
      case 'exists':
        return has(r.key);
      case 'absent':
        return !has(r.key);
      case 'in':
        return has(r.key) && r.values.includes(tags![r.key]!);
      case 'notin':
        return !has(r.key) || !r.values.includes(tags![r.key]!);
    }
  });
}

/** Tags checked: an object of valid keys to valid string values. */
export function checkTags(tags: unknown, what = 'tags'): Record<string, string> {
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags))
    throw new ModelwatchError('INVALID_ARGUMENT', `${what}: expected an object of key to value`);
  for (const [k, v] of Object.entries(tags)) {
    if (!TAG_KEY.test(k))
      throw new ModelwatchError(
        'INVALID_ARGUMENT',
        `${what}: '${k}' is not a valid tag key (letters, digits, '-', '_', '.', at most 63, beginning and ending with a letter or digit)`,
      );
    if (typeof v !== 'string' || !TAG_VALUE.test(v))
      throw new ModelwatchError('INVALID_ARGUMENT', `${what}: the value of '${k}' (${JSON.stringify(v)}) is not a valid tag value`);
  }
  return tags as Record<string, string>;
}

/** `k=v` items (the CLI's `--tag`) as tags; `INVALID_ARGUMENT` for an item without `=`. */
export function parseTagAssignments(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const i = item.indexOf('=');
    if (i <= 0) throw new ModelwatchError('INVALID_ARGUMENT', `tag '${item}': expected key=value`);
    out[item.slice(0, i).trim()] = item.slice(i + 1).trim();
  }
  return checkTags(out);
}
