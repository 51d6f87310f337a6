/**
 * Where alerting keeps its records, all in JetStream KV (so any host process reads them and the
 * evaluator can move): rules made through the API (`mw_alert_rules`), alerts and their history
 * (`mw_alerts`), silences (`mw_alert_silences`) and the evaluator's series (`mw_alert_series`).
 * Records change by the named operations here. What a rule says is the alerts module's
 * (`alerts/rules.ts`): this store knows a rule by its name and is given its validation.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { Buckets } from '@modelwatch/protocol';
import type { Alert } from '../alerts/contract.js';
import { parseDuration } from '../config/duration.js';
import { compileGlob } from '../domain/glob.js';
import { ModelwatchError } from '../errors.js';
import { bucketKeys, listJson, readJson, updateJson, updateJsonFrom, type Versioned } from './kv.js';

export type { Versioned };

/** A muted rule or endpoint (or both: that rule on that endpoint) until a time. */
export interface Silence {
  id: string;
  /** The rule it mutes (absent: every rule). */
  rule?: string;
  /** The endpoints it mutes: a name or a glob (absent: every endpoint). */
  endpoint?: string;
  /** Until when (ms since the epoch). */
  endsAt: number;
  comment?: string;
  createdAt: number;
  createdBy?: string;
}

/** The evaluator's memory of one series (KV `mw_alert_series`; `alerts/evaluate.ts` moves it). */
export interface SeriesState {
  /** Start (ms) of the newest window seen: an older or equal one is a redelivery and is skipped. */
  lastWindow: number;
  /** Breach (`1`) or not (`0`) of the last windows, newest last (at most the rule's `last`). */
  recent: string;
  /** Breaching windows in a row, normal windows in a row. */
  breaches: number;
  normals: number;
  /** Starts of the breaching windows of the current episode, oldest first (the last 20). */
  windows: number[];
  /** The open alert (firing or acknowledged), if any. */
  alertId?: string;
  /** End of the window at which its last alert resolved (the cooldown counts from there). */
  resolvedAt?: number;
  /** End (ms) of the newest window with rows (data absence rules). */
  lastDataEnd?: number;
}

export interface AlertBuckets {
  rules: KV;
  alerts: KV;
  silences: KV;
  series: KV;
}

export async function openAlertBuckets(nc: NatsConnection): Promise<AlertBuckets> {
  const kvm = new Kvm(nc);
  const [rules, alerts, silences, series] = await Promise.all([
    kvm.open(Buckets.alertRules),
    kvm.open(Buckets.alerts),
    kvm.open(Buckets.alertSilences),
    kvm.open(Buckets.alertSeries),
  ]);
  return { rules, alerts, silences, series };
}

/** A rule as this store knows it: by its name. */
export interface NamedRule {
  name: string;
}

/** A rule as stored and listed: where it came from. */
export type StoredRule<R extends NamedRule> = R & { source: 'api' | 'file'; createdAt: number; createdBy?: string };

/** The rules: those of the file (read-only, in memory) and those made through the API (KV). */
export class RuleStore<R extends NamedRule> {
  private readonly fileRules = new Map<string, StoredRule<R>>();

  constructor(
    private readonly kv: KV,
    /** Checks a rule given to `put` (throws a `ModelwatchError` naming what is wrong). */
    private readonly validate: (rule: unknown) => R,
    fileRules: readonly R[] = [],
    loadedAt = Date.now(),
  ) {
    for (const r of fileRules) this.fileRules.set(r.name, { ...r, source: 'file', createdAt: loadedAt });
  }

  get fromFile(): ReadonlyArray<StoredRule<R>> {
    return [...this.fileRules.values()];
  }

  async list(): Promise<Array<StoredRule<R>>> {
    const api = (await listJson<StoredRule<R>>(this.kv)).filter((r) => !this.fileRules.has(r.name));
    return [...this.fileRules.values(), ...api].sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<StoredRule<R> | undefined> {
    return this.fileRules.get(name) ?? (await readJson<StoredRule<R>>(this.kv, name));
  }

  async require(name: string): Promise<StoredRule<R>> {
    const r = await this.get(name);
    if (!r) throw new ModelwatchError('NOT_FOUND', `alert rule '${name}' not found`);
    return r;
  }

  /** Create or replace a rule made through the API; a rule of the file is refused (CONFLICT). */
  async put(rule: unknown, createdBy?: string): Promise<{ record: StoredRule<R>; created: boolean }> {
    const r = this.validate(rule);
    if (this.fileRules.has(r.name))
      throw new ModelwatchError('CONFLICT', `alert rule '${r.name}' is declared in the alerts file: it is read-only through the API`);
    let created = false;
    const record = (await updateJson<StoredRule<R>>(this.kv, r.name, (cur) => {
      created = cur === undefined;
      return { ...r, source: 'api', createdAt: cur?.createdAt ?? Date.now(), ...(createdBy !== undefined && { createdBy }) };
    }))!;
    return { record, created };
  }

  async delete(name: string): Promise<StoredRule<R>> {
    if (this.fileRules.has(name)) throw new ModelwatchError('CONFLICT', `alert rule '${name}' is declared in the alerts file: it is read-only through the API`);
    const r = await this.require(name);
    await this.kv.delete(name);
    return r;
  }
}

/** What the evaluator changes of an open alert with a newer window. */
export type AlertPatch = Pick<Alert, 'value' | 'status' | 'windows' | 'windowStart' | 'windowEnd' | 'summary'>;

/** The alerts: the evaluator opens, updates and resolves them; people acknowledge and resolve them. */
export class AlertStore {
  constructor(private readonly kv: KV) {}

  async list(opts: { active?: boolean } = {}): Promise<Alert[]> {
    const all = await listJson<Alert>(this.kv);
    return all.filter((a) => !opts.active || a.state !== 'resolved').sort((a, b) => b.startsAt - a.startsAt || a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<Alert | undefined> {
    return await readJson<Alert>(this.kv, id).catch(() => undefined);
  }

  async require(id: string): Promise<Alert> {
    const a = await this.get(id);
    if (!a) throw new ModelwatchError('NOT_FOUND', `alert '${id}' not found`);
    return a;
  }

  /** The evaluator: a new alert (kept as it is when it exists already: a redelivered window). */
  async open(alert: Alert): Promise<Alert> {
    return (await this.create(alert)).alert;
  }

  /**
   * The evaluator: a new alert, in one round trip when it is new; when it exists already (a
   * redelivered window) it is kept as it is and `created` is false.
   */
  async create(alert: Alert): Promise<{ alert: Alert; created: boolean; revision?: number }> {
    try {
      return { alert, created: true, revision: await this.kv.create(alert.id, JSON.stringify(alert)) };
    } catch (err) {
      const cur = await readJson<Alert>(this.kv, alert.id);
      if (cur) return { alert: cur, created: false };
      throw err;
    }
  }

  /**
   * The evaluator's update and resolve, tried first on the alert as it last saw it (one round
   * trip), then on what is stored: the newest window of an open alert (its state, set by people,
   * is kept), and its resolution when `resolveAt` is given. The alert as it is now, its
   * revision, and whether it was resolved by this.
   */
  async advance(
    id: string,
    known: Versioned<Alert> | undefined,
    patch: AlertPatch | undefined,
    resolveAt?: number,
  ): Promise<{ alert: Versioned<Alert> | undefined; resolved: boolean }> {
    let resolved = false;
    const a = await updateJsonFrom<Alert>(this.kv, id, known, (cur) => {
      resolved = false;
      if (!cur || cur.state === 'resolved') return undefined;
      if (resolveAt === undefined) return { ...cur, ...patch };
      resolved = true;
      return { ...cur, ...patch, state: 'resolved', resolvedAt: resolveAt };
    });
    return { alert: a, resolved };
  }

  /** The evaluator: the newest window of an open alert (its state, set by people, is kept). */
  async update(id: string, patch: AlertPatch): Promise<Alert | undefined> {
    return await updateJson<Alert>(this.kv, id, (cur) => (cur && cur.state !== 'resolved' ? { ...cur, ...patch } : undefined));
  }

  /** Acknowledge an open alert. The alert as it is now, and whether this changed it. */
  async acknowledge(id: string, by: string | undefined, at = Date.now()): Promise<{ alert: Alert; changed: boolean }> {
    let changed = false;
    const a = await updateJson<Alert>(this.kv, id, (cur) => {
      if (!cur) throw new ModelwatchError('NOT_FOUND', `alert '${id}' not found`);
      if (cur.state === 'resolved') throw new ModelwatchError('CONFLICT', `alert '${id}' is resolved`);
      changed = cur.state === 'firing';
      return changed ? { ...cur, state: 'acknowledged', acknowledgedAt: at, ...(by !== undefined && { acknowledgedBy: by }) } : undefined;
    });
    return { alert: a!, changed };
  }

  /**
   * Resolve an open alert (the evaluator's auto-resolve, or a person's), with the evaluator's
   * newest window when given. The alert as it is now, and whether this changed it.
   */
  async resolve(id: string, at = Date.now(), patch?: AlertPatch): Promise<{ alert: Alert; changed: boolean }> {
    let changed = false;
    const a = await updateJson<Alert>(this.kv, id, (cur) => {
      if (!cur) throw new ModelwatchError('NOT_FOUND', `alert '${id}' not found`);
      changed = cur.state !== 'resolved';
      return changed ? { ...cur, ...patch, state: 'resolved', resolvedAt: at } : undefined;
    });
    return { alert: a!, changed };
  }
}

/** The silences: active until their end, then ignored (and removed by `prune`). */
export class SilenceStore {
  constructor(private readonly kv: KV) {}

  async list(): Promise<Silence[]> {
    return (await listJson<Silence>(this.kv)).sort((a, b) => a.endsAt - b.endsAt);
  }

  async create(spec: { rule?: string; endpoint?: string; duration: string; comment?: string }, createdBy?: string, now = Date.now()): Promise<Silence> {
    if (spec.rule === undefined && spec.endpoint === undefined) throw new ModelwatchError('INVALID_ARGUMENT', 'a silence needs a rule, an endpoint or both');
    if (spec.endpoint !== undefined) compileGlob(spec.endpoint, 'endpoint');
    const ms = parseDuration(spec.duration, 'duration', 'INVALID_ARGUMENT');
    if (ms <= 0) throw new ModelwatchError('INVALID_ARGUMENT', 'duration: must be more than 0');
    const s: Silence = {
      id: randomUUID(),
      ...(spec.rule !== undefined && { rule: spec.rule }),
      ...(spec.endpoint !== undefined && { endpoint: spec.endpoint }),
      endsAt: now + ms,
      ...(spec.comment !== undefined && { comment: spec.comment }),
      createdAt: now,
      ...(createdBy !== undefined && { createdBy }),
    };
    await this.kv.create(s.id, JSON.stringify(s));
    return s;
  }

  async delete(id: string): Promise<Silence> {
    const e = await this.kv.get(id).catch(() => null);
    if (!e || e.operation !== 'PUT') throw new ModelwatchError('NOT_FOUND', `silence '${id}' not found`);
    await this.kv.delete(id);
    return e.json<Silence>();
  }
}

/** The evaluator's series states. */
export class SeriesStore {
  constructor(private readonly kv: KV) {}

  async load(): Promise<Map<string, SeriesState>> {
    const out = new Map<string, SeriesState>();
    for (const k of await bucketKeys(this.kv)) {
      const s = await readJson<SeriesState>(this.kv, k);
      if (s) out.set(k, s);
    }
    return out;
  }

  /** Store states, all at once (the writes are pipelined: one round trip for the lot). */
  async save(states: ReadonlyMap<string, SeriesState>): Promise<void> {
    await Promise.all([...states].map(([k, s]) => this.kv.put(k, JSON.stringify(s))));
  }
}
