import type { KV } from '@nats-io/kv';
import type { ObjectStore } from '@nats-io/obj';
import type { EndpointRecord, ReferenceTable } from '@modelwatch/protocol';
import { endpointId } from '../domain/names.js';
import { isPreparedReference, prepareReference, referenceFeatureNames, type PreparedReference } from '../domain/reference.js';
import { ModelwatchError } from '../errors.js';
import { deleteJson, keysOnce, listJson, readJson, updateJson } from './kv.js';

/** An endpoint to create: its name (checked by the caller: `checkEndpointName`), columns and whether it is monitored. */
export interface NewEndpoint {
  name: string;
  featureNames: string[];
  labelNames: string[];
  monitoring: boolean;
  modelName?: string;
  modelVersion?: string;
  tags?: Record<string, string>;
}

/** A change of an endpoint's descriptive fields (checked by the caller); `null` clears a field. */
export interface EndpointChange {
  modelName?: string | null;
  modelVersion?: string | null;
  /** Tags to set (added or replaced). */
  setTags?: Record<string, string>;
  /** Tag keys to remove. */
  removeTags?: string[];
}

/** Column names the stream processor read from an endpoint's first events. */
export interface AdoptedNames {
  featureNames?: string[];
  labelNames?: string[];
}

/**
 * The endpoint records (`mw_endpoints`, key: endpoint name) and every change of their state,
 * each a named operation doing one compare-and-set on the record (retried on a concurrent
 * change): the API creates endpoints, sets their reference and turns monitoring on and off; the
 * stream processor adopts the column names of an endpoint's first events. `delete` removes the
 * record and its reference rows (its results are the writer's). The reference rows go to the
 * `mw_references` object store, before the record.
 */
export class EndpointStore {
  /**
   * `references` is needed only by `setReference`. `written`, when given, is awaited after each
   * change of an existing record (its reference, monitoring, names and tags, its removal) before
   * the change returns: the API passes the refresh of its process's watched copy, so the next
   * request it answers (an event checked against the new reference) sees the change.
   */
  constructor(
    private readonly kv: KV,
    private readonly references?: ObjectStore,
    private readonly written?: (name: string) => Promise<unknown>,
  ) {}

  get(name: string): Promise<EndpointRecord | undefined> {
    return readJson<EndpointRecord>(this.kv, name);
  }

  /** The record, or `NOT_FOUND` with how to create it. */
  async require(name: string): Promise<EndpointRecord> {
    const e = await this.get(name);
    if (!e) throw new ModelwatchError('NOT_FOUND', `no endpoint named '${name}' (create it with: modelwatch endpoint create --name ${name})`);
    return e;
  }

  /** Every endpoint, by name. */
  async list(): Promise<EndpointRecord[]> {
    return (await listJson<EndpointRecord>(this.kv)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The names of every endpoint, in no particular order (without reading the records). */
  async names(): Promise<string[]> {
    return keysOnce(this.kv);
  }

  /**
   * Create the endpoint, or leave an existing one as it is (`created: false`); an existing one
   * with other feature names (both lists given) is a `CONFLICT`.
   */
  async create(spec: NewEndpoint): Promise<{ record: EndpointRecord; created: boolean }> {
    const { name, featureNames } = spec;
    let created = false;
    const now = Date.now();
    const record = await updateJson<EndpointRecord>(this.kv, name, (cur) => {
      created = false;
      if (cur) {
        if (featureNames.length && cur.featureNames.length && featureNames.join('\u0000') !== cur.featureNames.join('\u0000')) {
          throw new ModelwatchError(
            'CONFLICT',
            `endpoint '${name}' exists with features ${cur.featureNames.join(', ')}; it cannot be created again with ${featureNames.join(', ')}`,
          );
        }
        return undefined;
      }
      created = true;
      return newRecord(spec, now);
    });
    return { record: record!, created };
  }

  /**
   * Create many endpoints at once (`POST /api/v1/endpoints/bulk`): each as {@link create} does,
   * `concurrency` at a time, one KV request for a new endpoint (a create that fails because the
   * key exists falls back to {@link create}'s compare-and-set). One outcome per spec, in order:
   * an error of one (a `CONFLICT`) never stops the others.
   */
  async createMany(specs: readonly NewEndpoint[], concurrency = 256): Promise<Array<{ record: EndpointRecord; created: boolean } | { error: unknown }>> {
    const out: Array<{ record: EndpointRecord; created: boolean } | { error: unknown }> = new Array(specs.length);
    let next = 0;
    const one = async (spec: NewEndpoint): Promise<{ record: EndpointRecord; created: boolean }> => {
      const now = Date.now();
      const record = newRecord(spec, now);
      try {
        await this.kv.create(spec.name, JSON.stringify(record));
        return { record, created: true };
      } catch {
        // the key exists (or existed: a deleted endpoint's key has a tombstone): the general path
        return await this.create(spec);
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(concurrency, specs.length) }, async () => {
        while (next < specs.length) {
          const i = next++;
          try {
            out[i] = await one(specs[i]!);
          } catch (error) {
            out[i] = { error };
          }
        }
      }),
    );
    return out;
  }

  /**
   * Make a table (or one prepared off the event loop, `prepareReference`) the endpoint's
   * reference: its rows go to the reference store first (for apps that ask for them), then the
   * record gets its statistics, row count and revision. An endpoint without feature names takes
   * the table's columns that are not labels, checked as declared names are (at most
   * `maxFeatures`). `NOT_FOUND` if missing. When the endpoint's names changed since the
   * reference was prepared, its statistics are computed again for the names it has now.
   */
  async setReference(name: string, reference: ReferenceTable | PreparedReference, maxFeatures?: number): Promise<EndpointRecord> {
    if (!this.references) throw new Error('this EndpointStore has no reference store: setReference needs one');
    const id = endpointId(name);
    const prepared = isPreparedReference(reference) ? reference : prepareReference(reference, await this.require(name), maxFeatures);
    await this.references.putBlob({ name: `${id}.json` }, prepared.encoded);
    const revision = Date.now();
    const rec = await updateJson<EndpointRecord>(this.kv, name, (cur) => {
      if (!cur) throw new ModelwatchError('NOT_FOUND', `no endpoint named '${name}'`);
      let made = prepared;
      const featureNames = referenceFeatureNames(prepared.columns, cur.featureNames, cur.labelNames, maxFeatures);
      // the statistics were computed for the names the endpoint had when the reference was read;
      // when they changed meanwhile (a stream processor adopted names), they are computed again
      // for the names it has now, from the same table (rare: here, on this thread)
      if (featureNames.join('\u0000') !== prepared.featureNames.join('\u0000') || cur.labelNames.join('\u0000') !== prepared.labelNames.join('\u0000')) {
        made = prepareReference(JSON.parse(new TextDecoder().decode(prepared.encoded)) as ReferenceTable, cur, maxFeatures);
      }
      return {
        ...cur,
        featureNames: made.featureNames,
        featureStats: made.stats,
        referenceRevision: revision,
        referenceRowCount: prepared.rows,
        updatedAt: revision,
      };
    });
    await this.written?.(name);
    return rec!;
  }

  /** Turn the endpoint's monitoring on or off. `NOT_FOUND` if missing. */
  async setMonitoring(name: string, monitoring: boolean): Promise<EndpointRecord> {
    const rec = await updateJson<EndpointRecord>(this.kv, name, (cur) => {
      if (!cur) throw new ModelwatchError('NOT_FOUND', `no endpoint named '${name}'`);
      return { ...cur, monitoring, updatedAt: Date.now() };
    });
    await this.written?.(name);
    return rec!;
  }

  /**
   * Change the model name, model version and tags. The record after; `NOT_FOUND` if missing.
   * Nothing is written (and `updatedAt` stays) when nothing changes.
   */
  async update(name: string, change: EndpointChange): Promise<EndpointRecord> {
    const rec = await updateJson<EndpointRecord>(this.kv, name, (cur) => {
      if (!cur) throw new ModelwatchError('NOT_FOUND', `no endpoint named '${name}'`);
      const next: EndpointRecord = { ...cur };
      if (change.modelName === null) delete next.modelName;
      else if (change.modelName !== undefined) next.modelName = change.modelName;
      if (change.modelVersion === null) delete next.modelVersion;
      else if (change.modelVersion !== undefined) next.modelVersion = change.modelVersion;
      const tags = { ...cur.tags, ...change.setTags };
      for (const k of change.removeTags ?? []) delete tags[k];
      if (Object.keys(tags).length) next.tags = tags;
      else delete next.tags;
      if (JSON.stringify(next) === JSON.stringify(cur)) return undefined;
      next.updatedAt = Date.now();
      return next;
    });
    await this.written?.(name);
    return rec!;
  }

  /**
   * Remove the endpoint's record, then its reference rows. The record that was removed;
   * `NOT_FOUND` if missing. Results, rows and events of the endpoint are not touched here.
   */
  async delete(name: string): Promise<EndpointRecord> {
    const rec = await deleteJson<EndpointRecord>(this.kv, name);
    if (!rec) throw new ModelwatchError('NOT_FOUND', `no endpoint named '${name}'`);
    await this.written?.(name);
    if (this.references) await this.references.delete(`${rec.id}.json`);
    return rec;
  }

  /**
   * Take the feature and label names read from the endpoint's events, each list only if the
   * endpoint has none yet. The record after (unchanged when it had both), `undefined` if missing.
   */
  async adoptNames(name: string, names: AdoptedNames): Promise<EndpointRecord | undefined> {
    return await updateJson<EndpointRecord>(this.kv, name, (cur) => {
      if (!cur) return undefined;
      const next = { ...cur };
      let changed = false;
      if (cur.featureNames.length === 0 && names.featureNames) {
        next.featureNames = names.featureNames;
        changed = true;
      }
      if (cur.labelNames.length === 0 && names.labelNames) {
        next.labelNames = names.labelNames;
        changed = true;
      }
      if (!changed) return undefined;
      next.updatedAt = Date.now();
      return next;
    });
  }
}

/** The record of a new endpoint. */
function newRecord(spec: NewEndpoint, now: number): EndpointRecord {
  return {
    id: endpointId(spec.name),
    name: spec.name,
    featureNames: spec.featureNames,
    labelNames: spec.labelNames,
    featureStats: {},
    monitoring: spec.monitoring,
    ...(spec.modelName !== undefined && { modelName: spec.modelName }),
    ...(spec.modelVersion !== undefined && { modelVersion: spec.modelVersion }),
    ...(spec.tags && Object.keys(spec.tags).length > 0 && { tags: spec.tags }),
    createdAt: now,
    updatedAt: now,
  };
}
