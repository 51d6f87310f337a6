import type { KV } from '@nats-io/kv';
import { SETTINGS_KEY, type MonitoringSettings } from '@modelwatch/protocol';
import { schedulePeriod } from '../domain/windows.js';
import { ModelwatchError } from '../errors.js';
import { updateJson } from './kv.js';

export interface PeriodChangeOptions {
  allowedLatenessMs: number;
  maxFutureSkewMs: number;
  /** Changes whose old layout can hold no retained row any more are forgotten. */
  retentionMs: number;
}

/**
 * The settings with the base period changed from the next window boundary. New arrivals are
 * filed by the new layout from a moment after the change (at most a second, at most the allowed
 * lateness), which leaves the stream processors time to read it.
 */
export function withBasePeriod(cur: MonitoringSettings, periodMs: number, nowMs: number, o: PeriodChangeOptions): MonitoringSettings {
  const next = schedulePeriod(cur, periodMs, nowMs, { graceMs: Math.min(1000, o.allowedLatenessMs), maxFutureSkewMs: o.maxFutureSkewMs });
  // rows older than the retention are gone, and so is any need to look for them
  const changes = next.changes.filter((c) => c.untilMs > nowMs - o.retentionMs);
  return { ...cur, periods: [...next.periods], changes, updatedAt: nowMs };
}

export async function readSettings(kv: KV): Promise<MonitoringSettings | undefined> {
  const e = await kv.get(SETTINGS_KEY);
  return e && e.operation === 'PUT' ? e.json<MonitoringSettings>() : undefined;
}

/** A change of the monitoring settings: either or both. */
export interface SettingsChange {
  enabled?: boolean | undefined;
  /** The new base period, from the next window boundary (`withBasePeriod`). */
  basePeriodMs?: number | undefined;
}

/**
 * The monitoring settings (`mw_settings`, key `monitoring`) and their changes, each a named
 * operation doing one compare-and-set (retried on a concurrent change): the host creates them
 * on first start and changes the period given explicitly at a later start; the API turns
 * monitoring on and off and changes the base period.
 */
export class SettingsStore {
  constructor(
    private readonly kv: KV,
    private readonly periodChange: PeriodChangeOptions,
  ) {}

  read(): Promise<MonitoringSettings | undefined> {
    return readSettings(this.kv);
  }

  /** Create the settings on first start (monitoring on, windows of `basePeriodMs`); later, the settings as they are. */
  async init(basePeriodMs: number): Promise<MonitoringSettings> {
    const s = await updateJson<MonitoringSettings>(this.kv, SETTINGS_KEY, (cur) =>
      cur ? undefined : { enabled: true, periods: [{ fromMs: 0, periodMs: basePeriodMs }], updatedAt: Date.now() },
    );
    return s!;
  }

  /** Turn monitoring on or off and/or change the base period; `NOT_FOUND` before the host created the settings. */
  async change(change: SettingsChange): Promise<MonitoringSettings> {
    const s = await updateJson<MonitoringSettings>(this.kv, SETTINGS_KEY, (cur) => {
      if (!cur) throw new ModelwatchError('NOT_FOUND', 'monitoring settings are missing; is the host running?');
      const now = Date.now();
      const next = change.basePeriodMs === undefined ? cur : withBasePeriod(cur, change.basePeriodMs, now, this.periodChange);
      return { ...next, enabled: change.enabled ?? cur.enabled, updatedAt: now };
    });
    return s!;
  }
}
