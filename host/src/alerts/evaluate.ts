/**
 * One window of one series through one rule: pure, no I/O. A series is what one alert can be
 * about: (rule, endpoint, app, result) for result rules, (rule, endpoint, app) for failed windows,
 * (rule, endpoint) for data absence, (rule, plugin) for quarantines.
 * @module
 */
import { createHash } from 'node:crypto';
import type { SeriesState } from '../store/alert-store.js';
import type { CompiledRule } from './rules.js';

export type { SeriesState };

/** What one window says for a series. */
export interface Observation {
  windowStart: number;
  windowEnd: number;
  breach: boolean;
  /** The value and status that were compared, when a result. */
  value?: number;
  status?: number;
}

export type Transition = 'fire' | 'resolve';

export const newSeries = (): SeriesState => ({ lastWindow: -1, recent: '', breaches: 0, normals: 0, windows: [] });

/**
 * Whether a result breaches a rule (status or value rules). Rules on events and data absence are
 * judged by the evaluator from the window.
 */
export function resultBreaches(rule: CompiledRule, value: number, status: number): boolean {
  switch (rule.condition) {
    case 'status':
      return status >= rule.threshold;
    case 'above':
      return value > rule.threshold;
    case 'below':
      return value < rule.threshold;
    default:
      return false;
  }
}

/**
 * Advance a series by one window: its new state (the same object, changed) and the transition it
 * makes, if any. `silenced`: a firing is held back (the series still counts). `open`: whether its
 * alert is still open (an alert resolved through the API closes it here too).
 */
export function step(rule: CompiledRule, s: SeriesState, o: Observation, silenced: boolean, open: boolean): Transition | undefined {
  if (s.alertId !== undefined && !open) {
    s.alertId = undefined;
    s.resolvedAt = o.windowStart;
    s.windows = [];
  }
  s.lastWindow = o.windowStart;
  s.recent = (s.recent + (o.breach ? '1' : '0')).slice(-rule.last);
  if (o.breach) {
    s.breaches++;
    s.normals = 0;
    s.windows.push(o.windowStart);
    if (s.windows.length > 20) s.windows.shift();
  } else {
    s.breaches = 0;
    s.normals++;
    if (s.alertId === undefined) s.windows = [];
  }
  if (s.alertId !== undefined) {
    if (!o.breach && rule.autoResolve > 0 && s.normals >= rule.autoResolve) return 'resolve';
    return undefined;
  }
  if (!o.breach || silenced) return undefined;
  const met = rule.consecutive ? s.breaches >= rule.atLeast : count1(s.recent) >= rule.atLeast;
  if (!met) return undefined;
  if (s.resolvedAt !== undefined && rule.cooldownMs > 0 && o.windowStart < s.resolvedAt + rule.cooldownMs) return undefined;
  return 'fire';
}

function count1(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 49) n++;
  return n;
}

/** The series' key: a hash of (rule, subject, app, result), safe as a KV key. */
export function seriesKey(rule: string, subject: string, app = '', result = ''): string {
  return createHash('sha256').update(`${rule}\u0000${subject}\u0000${app}\u0000${result}`).digest('base64url').slice(0, 22);
}

/** An alert's id: its series and the window it fired at (the same on a redelivery of that window). */
export function alertId(series: string, windowStart: number): string {
  return `${series}-${Math.max(0, windowStart).toString(36)}`;
}
