import type { ErrorObject } from 'ajv';
import { reservedNameReason } from '../domain/names.js';
import type { JsonValue } from '@modelwatch/sdk';
import { ModelwatchError } from '../errors.js';
import { ajvOnUse, compilerOnUse } from '../schema-check.js';

// verbose: an error carries its schema, so an unknown key's message can name the known ones
const compile = compilerOnUse(ajvOnUse({ allErrors: true, strict: false, verbose: true }, true));

/** Check a plugin's schema itself. */
export function checkConfigSchema(schema: unknown, source: string): void {
  if (typeof schema !== 'object' || schema === null) return;
  try {
    compile(schema);
  } catch (err) {
    throw new ModelwatchError('PLUGIN_INVALID_MANIFEST', `${source}: configSchema is not a valid JSON Schema: ${(err as Error).message}`);
  }
}

/**
 * Check a config against the plugin's `configSchema` (when it has one).
 * @throws {ModelwatchError} INVALID_ARGUMENT with the schema's messages
 */
export function validateConfig(config: Record<string, JsonValue>, schema: Record<string, JsonValue> | undefined, plugin: string): void {
  if (!schema) return;
  const validate = compile(schema);
  if (!validate(config)) {
    throw new ModelwatchError('INVALID_ARGUMENT', `config of ${plugin} is not valid:\n${formatErrors(validate.errors ?? [])}`);
  }
}

function formatErrors(errors: ErrorObject[]): string {
  return errors
    .map((e) => {
      const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : 'config';
      if (e.keyword === 'additionalProperties') {
        const known = Object.keys((e.parentSchema as { properties?: object } | undefined)?.properties ?? {});
        const keys = known.length ? ` (known keys: ${known.join(', ')})` : '';
        return `  - ${where}: unknown config key '${String(e.params.additionalProperty)}'${keys}`;
      }
      return `  - ${where}: ${e.message ?? 'is not valid'}`;
    })
    .join('\n');
}

/**
 * `key=value` pairs as given to `plugin configure --set`: the value is read as JSON when it
 * is JSON (`0.6`, `true`, `["a"]`), else as a string. `a.b=1` sets a nested key.
 */
export function parseSettings(pairs: readonly string[]): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ModelwatchError('INVALID_ARGUMENT', `--set ${pair}: expected key=value`);
    const key = pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    let value: JsonValue;
    try {
      value = JSON.parse(raw) as JsonValue;
    } catch {
      value = raw;
    }
    const path = key.split('.');
    for (const k of path) {
      const reserved = reservedNameReason(k, `--set ${key}: the key`);
      if (reserved) throw new ModelwatchError('INVALID_ARGUMENT', reserved);
    }
    let node = out;
    for (const k of path.slice(0, -1)) {
      const next = node[k];
      node = (next && typeof next === 'object' && !Array.isArray(next) ? next : (node[k] = {})) as Record<string, JsonValue>;
    }
    node[path[path.length - 1]!] = value;
  }
  return out;
}

/** Deep merge of settings into a config (objects merge, everything else replaces). */
export function mergeConfig(base: Record<string, JsonValue>, patch: Record<string, JsonValue>): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    // a JSON key (a body's `__proto__` is an own key of the parsed object) is never a way to an object's prototype
    const reserved = reservedNameReason(k, 'config: the key');
    if (reserved) throw new ModelwatchError('INVALID_ARGUMENT', reserved);
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? mergeConfig(cur as Record<string, JsonValue>, v as Record<string, JsonValue>)
        : v;
  }
  return out;
}
