import type { KV } from '@nats-io/kv';
import { SETTINGS_KEY, type MonitoringSettings } from '@modelwatch/protocol';
import { schedulePeriod } from '../domain/windows.js';
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

/** Create the settings on first start: monitoring on, windows of `basePeriodMs`. */
export async function initSettings(kv: KV, basePeriodMs: number): Promise<MonitoringSettings> {
  const s = await updateJson<MonitoringSettings>(kv, SETTINGS_KEY, (cur) =>
    cur ? undefined : { enabled: true, periods: [{ fromMs: 0, periodMs: basePeriodMs }], updatedAt: Date.now() },
  );
  return s!;
}
