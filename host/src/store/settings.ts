import type { KV } from '@nats-io/kv';
import type { PeriodSegment } from '../controller/windows.js';
import { updateJson } from './endpoints.js';

/** Monitoring settings, key `monitoring` of the `mw_settings` bucket. */
export interface MonitoringSettings {
  enabled: boolean;
  /** Window lengths over time; the first starts at 0 (windows align to the epoch). */
  periods: PeriodSegment[];
  updatedAt: number;
}

export const SETTINGS_KEY = 'monitoring';

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
