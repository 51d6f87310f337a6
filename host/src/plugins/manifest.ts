import { readFileSync } from 'node:fs';
import type { ErrorObject } from 'ajv';
import type { JsonValue } from '@modelwatch/sdk';
import { SELECTOR_PREFIX, type PluginLimits } from '@modelwatch/protocol';
import { parseDuration } from '../config/duration.js';
import { globProblem } from '../domain/glob.js';
import { reservedNameReason } from '../domain/names.js';
import { parseSelector } from '../domain/selector.js';
import { ModelwatchError } from '../errors.js';
import { DEFAULT_LIMITS } from '../store/plugins.js';
import { packageAsset } from './assets.js';
import { checkConfigSchema, validateConfig } from './config.js';
import { ajvOnUse, checkOnUse } from '../schema-check.js';

/** plugin.json, as written by a plugin author (see plugin.schema.json). */
export interface PluginManifest {
  name: string;
  version: string;
  description: string;
  entry: string;
  /** Endpoint names, globs or `selector:<tag selector>` entries the app applies to; absent: every endpoint. */
  endpoints?: string[];
  limits?: Partial<PluginLimits>;
  config?: Record<string, JsonValue>;
  runOnEmptyWindows?: boolean;
  referenceRows?: boolean;
  groundTruth?: { delay: string | number };
  configSchema?: Record<string, JsonValue>;
  isolation?: 'window' | 'version';
}

export interface ResolvedManifest extends PluginManifest {
  limits: PluginLimits;
  config: Record<string, JsonValue>;
  runOnEmptyWindows: boolean;
  referenceRows: boolean;
}

/** `groundTruth.delay` in ms, when the app asks for ground truth. */
export function groundTruthDelayMs(m: PluginManifest): number | undefined {
  return m.groundTruth ? parseDuration(m.groundTruth.delay, 'groundTruth.delay', 'INVALID_ARGUMENT') : undefined;
}

export const RESERVED_NAMES = new Set(['model-monitoring-stream', 'model-monitoring-controller', 'model-monitoring-writer']);

/** The JSON Schema of plugin.json (the repository's plugin.schema.json, which the package carries). */
export const manifestSchema = JSON.parse(readFileSync(packageAsset('plugin.schema.json', 'plugin.schema.json'), 'utf8')) as object;

const validate = checkOnUse<PluginManifest>(ajvOnUse({ allErrors: true, strict: false }, true), manifestSchema);

/**
 * Validate a manifest against plugin.schema.json and fill in defaults.
 * @throws {ModelwatchError} PLUGIN_INVALID_MANIFEST listing every problem
 */
export function resolveManifest(raw: unknown, source = 'plugin.json'): ResolvedManifest {
  if (!validate(raw)) {
    throw new ModelwatchError('PLUGIN_INVALID_MANIFEST', `${source} is not valid:\n${formatErrors(validate.errors ?? [])}`);
  }
  if (RESERVED_NAMES.has(raw.name)) {
    throw new ModelwatchError('PLUGIN_INVALID_MANIFEST', `${source}: the name '${raw.name}' is reserved`);
  }
  const reserved = reservedNameReason(raw.name, 'the app name');
  if (reserved) throw new ModelwatchError('PLUGIN_INVALID_MANIFEST', `${source}: ${reserved}`);
  try {
    for (const e of raw.endpoints ?? []) if (e.startsWith(SELECTOR_PREFIX)) parseSelector(e.slice(SELECTOR_PREFIX.length));
  } catch (err) {
    throw new ModelwatchError('PLUGIN_INVALID_MANIFEST', `${source}: endpoints: ${(err as Error).message}`);
  }
  for (const [i, e] of (raw.endpoints ?? []).entries()) {
    const problem = e.startsWith(SELECTOR_PREFIX) ? undefined : globProblem(e);
    if (problem !== undefined) throw new ModelwatchError('PLUGIN_INVALID_MANIFEST', `${source}: endpoints.${i}: ${problem}`);
  }
  try {
    groundTruthDelayMs(raw);
  } catch (err) {
    throw new ModelwatchError('PLUGIN_INVALID_MANIFEST', `${source}: ${(err as Error).message}`);
  }
  checkConfigSchema(raw.configSchema, source);
  try {
    validateConfig(raw.config ?? {}, raw.configSchema, raw.name);
  } catch (err) {
    throw new ModelwatchError('PLUGIN_INVALID_MANIFEST', `${source}: ${(err as Error).message}`);
  }
  return {
    ...raw,
    limits: { ...DEFAULT_LIMITS, ...raw.limits },
    config: raw.config ?? {},
    runOnEmptyWindows: raw.runOnEmptyWindows ?? false,
    referenceRows: raw.referenceRows ?? false,
  };
}

function formatErrors(errors: ErrorObject[]): string {
  return errors
    .map((e) => {
      const where = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '(top level)';
      if (e.keyword === 'additionalProperties') return `  - ${where}: unknown field '${String(e.params.additionalProperty)}'`;
      if (e.keyword === 'required') return `  - ${where}: missing field '${String(e.params.missingProperty)}'`;
      return `  - ${where}: ${e.message ?? 'is not valid'}`;
    })
    .join('\n');
}
