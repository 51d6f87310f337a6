import { seededRandom } from '@modelwatch/sdk/testing';
import { describe, expect, it } from 'vitest';
import type { MarkedWindow, StreakRecord, WindowMark } from '@modelwatch/protocol';
import { accountWindow, markOf, MAX_PENDING, streakKey } from '../src/store/streaks.js';

const P = 1000;
const T0 = 1_750_000_000_000;

/** Back-to-back windows of one second with these marks. */
function windows(marks: string): MarkedWindow[] {
  return [...marks].map((m, i) => [T0 + i * P, T0 + (i + 1) * P, m as WindowMark]);
}

/** Account the windows in this order; the streak after each, and the streaks at which the limit was reached. */
function run(ws: MarkedWindow[], limit = 3, initial?: StreakRecord) {
  let rec = initial;
  const crossings: number[] = [];
  for (const w of ws) {
    const step = accountWindow(rec, w, limit);
    rec = step.record;
    if (step.crossed) crossings.push(rec.streak);
  }
  return { record: rec!, crossings };
}

function shuffled<T>(xs: T[], rand: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

describe('failure streaks, counted in window order', () => {
  it('only windows on which the app was called count: empty windows neither count nor reset', () => {
    const { record, crossings } = run(windows('f-f-f'));
    expect(record.streak).toBe(3);
    expect(crossings).toEqual([3]);
    expect(record.next).toBe(T0 + 5 * P);
    expect(record.pending).toEqual([]);
  });

  it('a success resets the streak', () => {
    const { record, crossings } = run(windows('ff-o-ff'));
    expect(record.streak).toBe(2);
    expect(crossings).toEqual([]);
  });

  it('outputs in any order give the streak of window order, and reach the limit if and only if window order does', () => {
    const r = seededRandom(7);
    const rand = r.uniform;
    const random = Array.from({ length: 200 }, () =>
      Array.from({ length: 4 + Math.floor(rand() * 14) }, () => r.choice(['f', 'o', '-'], [0.6, 0.1, 0.3])).join(''),
    );
    for (const marks of ['ffoff', 'f-f-f-o-ff', 'o-f--f-f-f', 'fffofff', '-f-f-o-f-f-f-f-', 'offoffo', 'ff-offf-o-ff', ...random]) {
      const inOrder = run(windows(marks));
      for (let k = 0; k < 30; k++) {
        const got = run(shuffled(windows(marks), rand));
        expect(got.record.streak, `${marks} shuffled`).toBe(inOrder.record.streak);
        expect(got.record.next).toBe(inOrder.record.next);
        expect(got.record.pending).toEqual([]);
        // a run longer than twice the limit, found backwards, reaches it once rather than twice: either way the version is quarantined
        expect(got.crossings.length > 0, `${marks} shuffled`).toBe(inOrder.crossings.length > 0);
      }
    }
  });

  it('the first window seen need not be the first window: earlier ones are accounted backwards', () => {
    const ws = windows('fff');
    const { record, crossings } = run([ws[2]!, ws[0]!, ws[1]!]);
    expect(record.from).toBe(T0);
    expect(record.streak).toBe(3);
    expect(crossings).toEqual([3]);
    // a success before the run does not reset it, but ends its backward extension
    const ws2 = windows('offf');
    const r2 = run([ws2[3]!, ws2[2]!, ws2[0]!, ws2[1]!]);
    expect(r2.record.streak).toBe(3);
    expect(r2.record.unbroken).toBe(false);
  });

  it('a redelivered window changes nothing', () => {
    const ws = windows('f-f');
    const { record } = run(ws);
    for (const w of ws) {
      const step = accountWindow(record, w, 3);
      expect(step.changed).toBe(false);
      expect(step.record).toBe(record);
    }
    // also while it waits ahead of a gap
    const waiting = run([ws[2]!], 3, run([ws[0]!]).record).record;
    expect(accountWindow(waiting, ws[2]!, 3).changed).toBe(false);
  });

  it('windows follow one another across a change of period', () => {
    const ws: MarkedWindow[] = [
      [T0, T0 + P, 'f'],
      [T0 + P, T0 + 4 * P, 'f'],
      [T0 + 4 * P, T0 + 4 * P + 500, '-'],
      [T0 + 4 * P + 500, T0 + 5 * P, 'f'],
    ];
    const { record, crossings } = run([ws[3]!, ws[1]!, ws[2]!, ws[0]!]);
    expect(record.streak).toBe(3);
    expect(crossings).toEqual([3]);
  });

  it('after reaching the limit, it takes the limit again in a row to reach it again; a success starts over', () => {
    const { record, crossings } = run(windows('fffffffoff'));
    expect(crossings).toEqual([3, 6]);
    expect(record.streak).toBe(2);
    expect(record.quarantinedAt).toBe(0);
  });

  it('a gap that never fills (a rollback gave those windows to another version) stalls a key for at most MAX_PENDING windows', () => {
    const before = run(windows('ff')).record;
    // windows 2..4 went to another version; this one's resume at 5, all failing
    const later: MarkedWindow[] = Array.from({ length: MAX_PENDING + 1 }, (_, i) => [T0 + (5 + i) * P, T0 + (6 + i) * P, 'f']);
    let rec = before;
    for (const w of later.slice(0, MAX_PENDING)) rec = accountWindow(rec, w, 3).record;
    expect(rec.next).toBe(T0 + 2 * P);
    expect(rec.pending.length).toBe(MAX_PENDING);
    const step = accountWindow(rec, later[MAX_PENDING]!, 3);
    expect(step.record.pending).toEqual([]);
    expect(step.record.next).toBe(T0 + (6 + MAX_PENDING) * P);
    expect(step.record.streak).toBe(2 + MAX_PENDING + 1);
    // the window that comes late after all is inside the accounted run: ignored
    expect(accountWindow(step.record, [T0 + 2 * P, T0 + 3 * P, 'o'], 3).changed).toBe(false);
  });

  it('tells which window the windows ahead wait for', () => {
    const ws = windows('f-ff');
    const step = accountWindow(run([ws[0]!]).record, ws[3]!, 3);
    expect(step.gapAt).toBe(T0 + P);
    expect(accountWindow(step.record, ws[1]!, 3).gapAt).toBe(T0 + 2 * P);
    expect(run(ws).record.pending).toEqual([]);
  });

  it('marks: errors of the app count; empty windows, a vanished endpoint or version, and deliveries all lost with their runner do not', () => {
    expect(markOf({ outcome: 'ok' })).toBe('o');
    expect(markOf({ outcome: 'error', error: { code: 'APP_TIMEOUT', message: '' } })).toBe('f');
    expect(markOf({ outcome: 'error', error: { code: 'APP_MEMORY_LIMIT', message: 'crashed its runner' } })).toBe('f');
    expect(markOf({ outcome: 'error', error: { code: 'WINDOW_FAILED', message: '' } })).toBe('-');
    expect(markOf({ outcome: 'error', error: { code: 'NOT_FOUND', message: '' } })).toBe('-');
    expect(markOf({ outcome: 'empty' })).toBe('-');
  });

  it('keys are valid KV keys for every semantic version', () => {
    expect(streakKey('my-app', '1.0.0-beta.1+build.7', 'ab12')).toBe('my-app.1.0.0-beta.1_build.7.ab12');
    expect(streakKey('my-app', '1.0.0-beta.1+build.7', 'ab12')).toMatch(/^[-/_=.a-zA-Z0-9]+$/);
  });
});
