import { posix } from 'node:path';
import type { JsonValue } from '@modelwatch/sdk';

/** Resource limits of a plugin, from its manifest with defaults filled in. */
export interface PluginLimits {
  memoryMb: number;
  timeoutMs: number;
  extraDataBytes: number;
}

export const DEFAULT_LIMITS: PluginLimits = { memoryMb: 128, timeoutMs: 10_000, extraDataBytes: 64 * 1024 };

/** One published version of a plugin. Its bundle is `<name>@<version>.js` in the bundle store. */
export interface PluginVersionRecord {
  version: string;
  description: string;
  /** sha256 of the bundle. */
  digest: string;
  publishedAt: number;
  limits: PluginLimits;
  config: Record<string, JsonValue>;
  /** Call the app for windows with no rows. */
  runOnEmptyWindows: boolean;
  /** Give the app the reference rows as `ctx.reference`. */
  referenceRows: boolean;
  /** Give the app `ctx.groundTruth`, analysing each window this long after it closes so labels can arrive. */
  groundTruthDelayMs?: number;
  /** `window`: a fresh context per window; `version`: one context kept across windows. */
  isolation?: 'window' | 'version';
  /** JSON Schema that `config` must satisfy (`configSchema` in plugin.json). */
  configSchema?: Record<string, JsonValue>;
  /** Endpoint names or globs this version applies to (`endpoints` in plugin.json); absent: every endpoint. */
  endpoints?: string[];
}

/** `active`: its windows are analysed; `disabled` by a user; `quarantined` after failing too many windows in a row. */
export type PluginStatus = 'active' | 'disabled' | 'quarantined';

/** The last window a plugin failed. */
export interface PluginFailure {
  code: string;
  message: string;
  stack?: string;
  version: string;
  endpoint: string;
  windowStart: number;
  at: number;
}

/** A plugin as stored in the `mw_plugins` bucket (key: its name). */
export interface PluginRecord {
  name: string;
  activeVersion: string;
  status: PluginStatus;
  /** Why it is disabled or quarantined. */
  statusReason?: string;
  lastError?: PluginFailure;
  createdAt: number;
  updatedAt: number;
  /** In publish order. */
  versions: PluginVersionRecord[];
}

export function bundleName(name: string, version: string): string {
  return `${name}@${version}.js`;
}

export function activeVersionOf(p: PluginRecord): PluginVersionRecord | undefined {
  return p.versions.find((v) => v.version === p.activeVersion);
}

/** Answers per `endpoints` list (the controller's live copy of a record keeps the same list object), per endpoint name. */
const answers = new WeakMap<readonly string[], Map<string, boolean>>();

/**
 * Whether a plugin version with these `endpoints` (names or globs, from plugin.json) applies to
 * an endpoint: every endpoint when it has none. Answers are kept, since the controller asks for
 * every (endpoint, plugin) pair on every tick.
 */
export function appliesTo(endpoints: readonly string[] | undefined, endpointName: string): boolean {
  if (!endpoints) return true;
  let known = answers.get(endpoints);
  if (!known) answers.set(endpoints, (known = new Map()));
  let yes = known.get(endpointName);
  if (yes === undefined) {
    yes = endpoints.some((pattern) => posix.matchesGlob(endpointName, pattern));
    if (known.size >= 100_000) known.clear();
    known.set(endpointName, yes);
  }
  return yes;
}
