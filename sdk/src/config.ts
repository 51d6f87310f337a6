/**
 * Reading a plugin's `config`: the checks every app makes before its own, with errors that
 * name the plugin, the key and the value.
 *
 * @example
 * ```ts
 * import { describeValue, readConfig } from '@modelwatch/sdk';
 *
 * const { cfg, fail } = readConfig('my-app', ctx.config, ['threshold', 'columns']);
 * const threshold = cfg.threshold ?? 0.1;
 * if (typeof threshold !== 'number' || !(threshold > 0)) fail(`config threshold must be a positive number, got ${describeValue(threshold)}`);
 * ```
 * @module
 */

/** How a value reads in an error message: strings quoted, numbers and the like as they print, objects and arrays by kind. */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return String(v);
  return Array.isArray(v) ? 'an array' : 'an object';
}

/** A config checked by {@link readConfig}, and how to refuse it. */
export interface ConfigReader {
  /** The config: an object with known keys only (`{}` when the plugin has none). */
  cfg: Record<string, unknown>;
  /** Throws an Error `<app>: <message>`. */
  fail(message: string): never;
}

/**
 * Check that `config` (undefined counts as `{}`) is an object holding only `known` keys.
 * @param expected what the config should be, for the message when it is not an object
 * @throws {Error} `<app>: config must be an object, got ...` or `<app>: unknown config key 'k' (known keys: ...)`
 */
export function readConfig(app: string, config: unknown, known: readonly string[], expected = 'an object'): ConfigReader {
  const fail = (message: string): never => {
    throw new Error(`${app}: ${message}`);
  };
  const cfg = config ?? {};
  if (typeof cfg !== 'object' || Array.isArray(cfg)) return fail(`config must be ${expected}, got ${describeValue(config)}`);
  for (const key of Object.keys(cfg)) if (!known.includes(key)) fail(`unknown config key '${key}' (known keys: ${known.join(', ')})`);
  return { cfg: cfg as Record<string, unknown>, fail };
}
