import { posix } from 'node:path';
import type { KV } from '@nats-io/kv';
import type { PluginLimits, PluginRecord, PluginVersionRecord } from '@modelwatch/protocol';

export const DEFAULT_LIMITS: PluginLimits = { memoryMb: 128, timeoutMs: 10_000, extraDataBytes: 64 * 1024 };

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

/**
 * Whether a version of the plugin `name` was ever published on this host: its record, `'removed'`
 * when it was removed (`mw_plugins` keeps the delete marker of a removed plugin's key: removals
 * delete, never purge, and the bucket has no TTL), or undefined when it never was.
 */
export async function publishedOnce(kv: KV, name: string): Promise<PluginRecord | 'removed' | undefined> {
  const e = await kv.get(name);
  if (!e) return undefined;
  return e.operation === 'PUT' ? e.json<PluginRecord>() : 'removed';
}
