import type { KV } from '@nats-io/kv';
import {
  SELECTOR_PREFIX,
  type AppOutputMessage,
  type PluginFailure,
  type EndpointRecord,
  type PluginLimits,
  type PluginRecord,
  type PluginVersionRecord,
} from '@modelwatch/protocol';
import { globMatches } from '../domain/glob.js';
import { activeVersionOf, shadowVersionOf } from '../domain/plugin-versions.js';
import { matchesSelector, parseSelector, type Selector } from '../domain/selector.js';
import { ModelwatchError } from '../errors.js';
import { deleteJson, listJson, readJson, updateJson } from './kv.js';

/** The limits a manifest leaves out; the artifact limits, when left out, are the sandbox's defaults (`DEFAULT_ARTIFACT_LIMITS`). */
export const DEFAULT_LIMITS: PluginLimits = { memoryMb: 128, timeoutMs: 10_000, extraDataBytes: 64 * 1024 };

export function bundleName(name: string, version: string): string {
  return `${name}@${version}.js`;
}

export { activeVersionOf, shadowVersionOf };

/** Answers of the name patterns per `endpoints` list (the controller's live copy of a record keeps the same list object), per endpoint name. */
const answers = new WeakMap<readonly string[], Map<string, boolean>>();
/** Parsed selectors, by their text. */
const selectors = new Map<string, Selector>();

/** The endpoint an `endpoints` list is held against: its name, and its tags for selector entries. */
export type EndpointMatchee = Pick<EndpointRecord, 'name' | 'tags'>;

/**
 * Whether a plugin version with these `endpoints` (names, globs or `selector:` entries, from
 * plugin.json) applies to an endpoint: every endpoint when it has none. The answers of the names
 * and globs are kept, since the controller asks for every (endpoint, plugin) pair on every tick;
 * selectors are held against the endpoint's tags as they are now.
 */
export function appliesTo(endpoints: readonly string[] | undefined, endpoint: EndpointMatchee): boolean {
  if (!endpoints) return true;
  let known = answers.get(endpoints);
  if (!known) answers.set(endpoints, (known = new Map()));
  let byName = known.get(endpoint.name);
  if (byName === undefined) {
    byName = endpoints.some((pattern) => !pattern.startsWith(SELECTOR_PREFIX) && globMatches(pattern, endpoint.name));
    if (known.size >= 100_000) known.clear();
    known.set(endpoint.name, byName);
  }
  if (byName) return true;
  return endpoints.some((pattern) => {
    if (!pattern.startsWith(SELECTOR_PREFIX)) return false;
    let sel = selectors.get(pattern);
    if (!sel) {
      sel = parseSelector(pattern.slice(SELECTOR_PREFIX.length));
      if (selectors.size >= 10_000) selectors.clear();
      selectors.set(pattern, sel);
    }
    return matchesSelector(sel, endpoint.tags);
  });
}

/** An `endpoints` list as messages show it: `churn, fraud-*, selector:team=fraud`. */
export function describeEndpoints(endpoints: readonly string[]): string {
  return endpoints.join(', ');
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

/** What a published version carries; the store fills in when it was first published. */
export type PublishedVersion = Omit<PluginVersionRecord, 'publishedAt'>;

/** What `PluginStore.quarantine` did: the record after it, and whether the version was quarantined now. */
export interface QuarantineStep {
  record: PluginRecord | undefined;
  quarantined: boolean;
}

/**
 * The plugin records (`mw_plugins`, key: plugin name) and every change of their state, each a
 * named operation doing one compare-and-set on the record (retried on a concurrent change): the
 * API publishes, enables, disables, rolls back, configures and removes; the writer records
 * outcomes and quarantines. Nothing else writes a plugin record.
 */
export class PluginStore {
  constructor(private readonly kv: KV) {}

  get(name: string): Promise<PluginRecord | undefined> {
    return readJson<PluginRecord>(this.kv, name);
  }

  /** The record, or `NOT_FOUND`. */
  async require(name: string): Promise<PluginRecord> {
    const p = await this.get(name);
    if (!p) throw new ModelwatchError('NOT_FOUND', `no plugin named '${name}' (see modelwatch plugin list)`);
    return p;
  }

  /** Every plugin, by name. */
  async list(): Promise<PluginRecord[]> {
    return (await listJson<PluginRecord>(this.kv)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /**
   * Add a version (or replace the record of the same version and code) and make it the active
   * one, the plugin active. A version published again keeps its first publish time; the same
   * version with other code is a `CONFLICT`. The plugin's last error is kept.
   */
  async publish(name: string, version: PublishedVersion): Promise<PluginRecord> {
    const now = Date.now();
    const rec = await updateJson<PluginRecord>(this.kv, name, (p) => {
      const same = p?.versions.find((v) => v.version === version.version);
      if (same && same.digest !== version.digest) {
        throw new ModelwatchError('CONFLICT', `${name}@${version.version} is already published with different code: bump the version in plugin.json`);
      }
      const published: PluginVersionRecord = { ...version, publishedAt: same?.publishedAt ?? now };
      // a shadow of another version keeps running beside the new active one; one of this version is now active
      const shadow = p?.shadow && p.shadow.version !== version.version ? p.shadow : undefined;
      return {
        name,
        activeVersion: version.version,
        status: 'active',
        ...(p?.lastError ? { lastError: p.lastError } : {}),
        createdAt: p?.createdAt ?? now,
        updatedAt: now,
        versions: [...(p?.versions ?? []).filter((v) => v.version !== version.version), published],
        ...(shadow ? { shadow } : {}),
        ...(p?.droppedShadow ? { droppedShadow: p.droppedShadow } : {}),
      };
    });
    return rec!;
  }

  /**
   * Add a version (or keep the record of the same version and code) as the plugin's shadow: it
   * runs beside the active version on the windows that start at or after `since`, replacing an
   * earlier shadow. The plugin must exist (`NOT_FOUND`: publish it without `--shadow` first);
   * the active version cannot be its own shadow (`CONFLICT`), nor can a version with other code.
   */
  publishShadow(name: string, version: PublishedVersion, since: number): Promise<PluginRecord> {
    const now = Date.now();
    return this.change(name, (p) => {
      if (version.version === p.activeVersion) {
        throw new ModelwatchError('CONFLICT', `${name}@${version.version} is the active version: a shadow must be another version`);
      }
      const same = p.versions.find((v) => v.version === version.version);
      if (same && same.digest !== version.digest) {
        throw new ModelwatchError('CONFLICT', `${name}@${version.version} is already published with different code: bump the version in plugin.json`);
      }
      const published: PluginVersionRecord = { ...version, publishedAt: same?.publishedAt ?? now };
      return {
        ...p,
        versions: [...p.versions.filter((v) => v.version !== version.version), published],
        shadow: { version: version.version, since },
      };
    });
  }

  /**
   * Make the shadow version the active one (its windows dispatched from now on, so from the next
   * window) and stop the shadow; the plugin active. `CONFLICT` when it has no shadow.
   */
  promote(name: string): Promise<PluginRecord> {
    return this.change(name, ({ shadow, statusReason: _r, ...p }) => {
      if (!shadow) throw new ModelwatchError('CONFLICT', `${name} has no shadow version: publish one with plugin publish DIR --shadow`);
      return { ...p, activeVersion: shadow.version, status: 'active' };
    });
  }

  /**
   * Stop the shadow. With `version`, only if it is still that shadow (a writer dropping a
   * failing shadow must not drop a newer one), recording `reason` as `droppedShadow`; `CONFLICT`
   * when there is no shadow (to drop).
   */
  dropShadow(name: string, version?: string, reason?: string): Promise<PluginRecord> {
    return this.change(name, ({ shadow, ...p }) => {
      if (!shadow || (version !== undefined && shadow.version !== version)) {
        throw new ModelwatchError('CONFLICT', `${name} has no shadow version${version ? ` ${version}` : ''} to drop`);
      }
      return reason ? { ...p, droppedShadow: { version: shadow.version, reason, at: Date.now() } } : p;
    });
  }

  /** Active again, from disabled or quarantined (a quarantined version starts a new streak: `quarantinedAt` in its streaks). */
  enable(name: string): Promise<PluginRecord> {
    return this.change(name, ({ statusReason: _r, ...p }) => ({ ...p, status: 'active' }));
  }

  /** Nothing is dispatched to it until it is enabled. */
  disable(name: string): Promise<PluginRecord> {
    return this.change(name, (p) => ({ ...p, status: 'disabled', statusReason: 'disabled by a user' }));
  }

  /** Make an earlier version the active one (`to`, or the one published before the active one), the plugin active. */
  rollback(name: string, to?: string): Promise<PluginRecord> {
    return this.change(name, ({ statusReason: _r, ...p }) => {
      const i = p.versions.findIndex((v) => v.version === p.activeVersion);
      const target = to ?? p.versions[i - 1]?.version;
      if (!target) throw new ModelwatchError('CONFLICT', `${p.name}@${p.activeVersion} is its first version: there is nothing to roll back to`);
      if (!p.versions.some((v) => v.version === target)) {
        throw new ModelwatchError('NOT_FOUND', `${p.name} has no version ${target} (it has ${p.versions.map((v) => v.version).join(', ')})`);
      }
      // rolled back to the shadow's version: it is active, no longer a shadow
      const { shadow, ...rest } = p;
      return { ...rest, ...(shadow && shadow.version !== target ? { shadow } : {}), activeVersion: target, status: 'active' };
    });
  }

  /**
   * Replace the active version's config with `configOf(active version)`, which validates it
   * (against the version's `configSchema`: `plugins/config.ts`) and throws to refuse it.
   */
  configure(name: string, configOf: (active: PluginVersionRecord, plugin: PluginRecord) => PluginVersionRecord['config']): Promise<PluginRecord> {
    return this.change(name, (p) => {
      const v = activeVersionOf(p)!;
      const config = configOf(v, p);
      return { ...p, versions: p.versions.map((x) => (x === v ? { ...x, config } : x)) };
    });
  }

  /** Delete the record (as last read: compare-and-set), or `NOT_FOUND`. Its bundles and streaks are the caller's to remove. */
  async remove(name: string): Promise<PluginRecord> {
    const p = await deleteJson<PluginRecord>(this.kv, name);
    if (!p) throw new ModelwatchError('NOT_FOUND', `no plugin named '${name}' (see modelwatch plugin list)`);
    return p;
  }

  /** A window's outcome: a failure becomes the plugin's last error; other outcomes change nothing. */
  async recordOutcome(out: AppOutputMessage): Promise<PluginRecord | undefined> {
    return (await this.account(out)).record;
  }

  /**
   * The version of `out` failed `streak` windows in a row on its endpoint: record the outcome (as
   * `recordOutcome`) and quarantine the version if it is still the active one and the plugin is
   * active (a newer publish, a rollback or a user's disable came first otherwise).
   */
  quarantine(out: AppOutputMessage, streak: number): Promise<QuarantineStep> {
    return this.account(out, streak);
  }

  private async account(out: AppOutputMessage, streak?: number): Promise<QuarantineStep> {
    const now = Date.now();
    let quarantined = false;
    const record = await updateJson<PluginRecord>(this.kv, out.app, (p) => {
      quarantined = false;
      if (!p) return undefined;
      if (out.shadow) return this.accountShadow(p, out, now, streak, () => (quarantined = true));
      const next: PluginRecord = { ...p, updatedAt: now };
      if (out.outcome === 'error') next.lastError = failureOf(out, now);
      if (streak !== undefined && p.status === 'active' && p.activeVersion === out.version) {
        const last = next.lastError ? `; last: ${next.lastError.code}: ${next.lastError.message}` : '';
        next.status = 'quarantined';
        next.statusReason = `failed ${streak} windows in a row on endpoint ${out.endpointName}${last}`;
        quarantined = true;
      } else if (out.outcome !== 'error') return undefined;
      return next;
    });
    return { record, quarantined };
  }

  /**
   * A shadow's outcome: a failure becomes the shadow's last error (the plugin's is the active
   * version's); at the streak limit the shadow is dropped (`droppedShadow`), the active version
   * untouched. Nothing changes when the output's version is no longer the shadow.
   */
  private accountShadow(p: PluginRecord, out: AppOutputMessage, now: number, streak: number | undefined, onDrop: () => void): PluginRecord | undefined {
    if (!p.shadow || p.shadow.version !== out.version) return undefined;
    const failure = out.outcome === 'error' ? failureOf(out, now) : undefined;
    if (streak !== undefined) {
      onDrop();
      const { shadow: _s, ...rest } = p;
      const last = failure ?? p.shadow.lastError;
      const why = `failed ${streak} windows in a row on endpoint ${out.endpointName}${last ? `; last: ${last.code}: ${last.message}` : ''}`;
      return { ...rest, updatedAt: now, droppedShadow: { version: out.version, reason: why, at: now } };
    }
    if (!failure) return undefined;
    return { ...p, updatedAt: now, shadow: { ...p.shadow, lastError: failure } };
  }

  /** One compare-and-set on an existing record (`NOT_FOUND` otherwise), stamped with the time. */
  private async change(name: string, fn: (p: PluginRecord) => PluginRecord): Promise<PluginRecord> {
    const rec = await updateJson<PluginRecord>(this.kv, name, (p) => {
      if (!p) throw new ModelwatchError('NOT_FOUND', `no plugin named '${name}'`);
      return { ...fn(p), updatedAt: Date.now() };
    });
    return rec!;
  }
}

/** The failure an error output records. */
function failureOf(out: AppOutputMessage, now: number): PluginFailure {
  const error = out.error ?? { code: 'APP_ERROR', message: 'failed' };
  return {
    code: error.code,
    message: error.message,
    ...(error.stack ? { stack: error.stack } : {}),
    version: out.version,
    endpoint: out.endpointName,
    windowStart: out.windowStart,
    at: now,
  };
}
