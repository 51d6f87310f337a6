/**
 * Where alerting keeps its records, all in JetStream KV (so any host process reads them and the
 * evaluator can move): rules made through the API (`mw_alert_rules`), alerts and their history
 * (`mw_alerts`), silences (`mw_alert_silences`) and the evaluator's series (`mw_alert_series`).
 * Records change by the named operations here.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { Buckets } from '@modelwatch/protocol';
import { parseDuration } from '../config/duration.js';
import { ModelwatchError } from '../errors.js';
import type { Alert } from './contract.js';
import type { SeriesState } from './evaluate.js';
import { validateRule, type AlertRule, type AlertRuleRecord } from './rules.js';

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

async function readAll<T>(kv: KV): Promise<T[]> {
  const out: T[] = [];
  for await (const k of await kv.keys()) {
    const e = await kv.get(k);
    if (e && e.operation === 'PUT') out.push(e.json<T>());
  }
  return out;
}

/** Compare-and-set on one key: `fn` returns the new value, or undefined to leave it. */
async function casJson<T>(kv: KV, key: string, fn: (current: T | undefined) => T | undefined): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    const e = await kv.get(key);
    const current = e && e.operation === 'PUT' ? e.json<T>() : undefined;
    const next = fn(current);
    if (next === undefined) return current;
    try {
      if (e && e.operation === 'PUT') await kv.update(key, JSON.stringify(next), e.revision);
      else await kv.create(key, JSON.stringify(next));
      return next;
    } catch (err) {
      if (attempt >= 20) throw err;
    }
  }
}

/** The rules: those of the file (read-only, in memory) and those made through the API (KV). */
export class AlertRuleStore {
  private readonly fileRules = new Map<string, AlertRuleRecord>();

  constructor(
    private readonly kv: KV,
    fileRules: readonly AlertRule[] = [],
    loadedAt = Date.now(),
  ) {
    for (const r of fileRules) this.fileRules.set(r.name, { ...r, source: 'file', createdAt: loadedAt });
  }

  get fromFile(): readonly AlertRuleRecord[] {
    return [...this.fileRules.values()];
  }

  async list(): Promise<AlertRuleRecord[]> {
    const api = (await readAll<AlertRuleRecord>(this.kv)).filter((r) => !this.fileRules.has(r.name));
    return [...this.fileRules.values(), ...api].sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(name: string): Promise<AlertRuleRecord | undefined> {
    const f = this.fileRules.get(name);
    if (f) return f;
    const e = await this.kv.get(name);
    return e && e.operation === 'PUT' ? e.json<AlertRuleRecord>() : undefined;
  }

  async require(name: string): Promise<AlertRuleRecord> {
    const r = await this.get(name);
    if (!r) throw new ModelwatchError('NOT_FOUND', `alert rule '${name}' not found`);
    return r;
  }

  /** Create or replace a rule made through the API; a rule of the file is refused (CONFLICT). */
  async put(rule: unknown, createdBy?: string): Promise<{ record: AlertRuleRecord; created: boolean }> {
    const r = validateRule(rule);
    if (this.fileRules.has(r.name))
      throw new ModelwatchError('CONFLICT', `alert rule '${r.name}' is declared in the alerts file: it is read-only through the API`);
    let created = false;
    const record = (await casJson<AlertRuleRecord>(this.kv, r.name, (cur) => {
      created = cur === undefined;
      return { ...r, source: 'api', createdAt: cur?.createdAt ?? Date.now(), ...(createdBy !== undefined && { createdBy }) };
    }))!;
    return { record, created };
  }

  async delete(name: string): Promise<AlertRuleRecord> {
    if (this.fileRules.has(name)) throw new ModelwatchError('CONFLICT', `alert rule '${name}' is declared in the alerts file: it is read-only through the API`);
    const r = await this.require(name);
    await this.kv.delete(name);
    return r;
  }
}

/** The alerts: the evaluator opens, updates and resolves them; people acknowledge and resolve them. */
export class AlertStore {
  constructor(private readonly kv: KV) {}

  async list(opts: { active?: boolean } = {}): Promise<Alert[]> {
    const all = await readAll<Alert>(this.kv);
    return all.filter((a) => !opts.active || a.state !== 'resolved').sort((a, b) => b.startsAt - a.startsAt || a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<Alert | undefined> {
    const e = await this.kv.get(id).catch(() => null);
    return e && e.operation === 'PUT' ? e.json<Alert>() : undefined;
  }

  async require(id: string): Promise<Alert> {
    const a = await this.get(id);
    if (!a) throw new ModelwatchError('NOT_FOUND', `alert '${id}' not found`);
    return a;
  }

  /** The evaluator: a new alert (kept as it is when it exists already: a redelivered window). */
  async open(alert: Alert): Promise<Alert> {
    return (await casJson<Alert>(this.kv, alert.id, (cur) => (cur ? undefined : alert)))!;
  }

  /** The evaluator: the newest window of an open alert (its state, set by people, is kept). */
  async update(id: string, patch: Pick<Alert, 'value' | 'status' | 'windows' | 'windowStart' | 'windowEnd' | 'summary'>): Promise<Alert | undefined> {
    return await casJson<Alert>(this.kv, id, (cur) => (cur && cur.state !== 'resolved' ? { ...cur, ...patch } : undefined));
  }

  /** Acknowledge an open alert. The alert as it is now, and whether this changed it. */
  async acknowledge(id: string, by: string | undefined, at = Date.now()): Promise<{ alert: Alert; changed: boolean }> {
    let changed = false;
    const a = await casJson<Alert>(this.kv, id, (cur) => {
      if (!cur) throw new ModelwatchError('NOT_FOUND', `alert '${id}' not found`);
      if (cur.state === 'resolved') throw new ModelwatchError('CONFLICT', `alert '${id}' is resolved`);
      changed = cur.state === 'firing';
      return changed ? { ...cur, state: 'acknowledged', acknowledgedAt: at, ...(by !== undefined && { acknowledgedBy: by }) } : undefined;
    });
    return { alert: a!, changed };
  }

  /** Resolve an open alert (the evaluator's auto-resolve, or a person's). Whether this changed it. */
  async resolve(id: string, at = Date.now()): Promise<{ alert: Alert; changed: boolean }> {
    let changed = false;
    const a = await casJson<Alert>(this.kv, id, (cur) => {
      if (!cur) throw new ModelwatchError('NOT_FOUND', `alert '${id}' not found`);
      changed = cur.state !== 'resolved';
      return changed ? { ...cur, state: 'resolved', resolvedAt: at } : undefined;
    });
    return { alert: a!, changed };
  }
}

/** The silences: active until their end, then ignored (and removed by `prune`). */
export class SilenceStore {
  constructor(private readonly kv: KV) {}

  async list(): Promise<Silence[]> {
    return (await readAll<Silence>(this.kv)).sort((a, b) => a.endsAt - b.endsAt);
  }

  async create(spec: { rule?: string; endpoint?: string; duration: string; comment?: string }, createdBy?: string, now = Date.now()): Promise<Silence> {
    if (spec.rule === undefined && spec.endpoint === undefined) throw new ModelwatchError('INVALID_ARGUMENT', 'a silence needs a rule, an endpoint or both');
    const ms = parseDuration(spec.duration, 'duration');
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
    for await (const k of await this.kv.keys()) {
      const e = await this.kv.get(k);
      if (e && e.operation === 'PUT') out.set(k, e.json<SeriesState>());
    }
    return out;
  }

  async save(states: ReadonlyMap<string, SeriesState>): Promise<void> {
    await Promise.all([...states].map(([k, s]) => this.kv.put(k, JSON.stringify(s))));
  }
}
