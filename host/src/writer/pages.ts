import type { ResultsReply, WindowProfile, WindowRecord } from '@modelwatch/protocol';
import { windowCursor } from '../domain/results-order.js';

/**
 * The first windows that fit `budget` bytes of JSON (at least one), with `next` (the last of the
 * page: the next page's `after`) when more remain: a query's reply always fits a NATS message.
 */
export function pageOf(windows: readonly WindowRecord[], budget: number): Extract<ResultsReply, { windows: WindowRecord[] }> {
  const page: WindowRecord[] = [];
  let bytes = 64;
  let i = 0;
  for (; i < windows.length; i++) {
    const size = Buffer.byteLength(JSON.stringify(windows[i])) + 1;
    if (page.length > 0 && bytes + size > budget) break;
    page.push(windows[i]!);
    bytes += size;
  }
  return i < windows.length ? { windows: page, next: windowCursor(page.at(-1)!) } : { windows: page };
}

/** The profiles that fit `budget` bytes of JSON (at least one), with `next` (the window start of the first left out) when some do not. */
export function profilesPage(profiles: readonly WindowProfile[], budget: number): Extract<ResultsReply, { profiles: WindowProfile[] }> {
  const page: WindowProfile[] = [];
  let bytes = 64;
  for (const p of profiles) {
    const size = Buffer.byteLength(JSON.stringify(p)) + 1;
    if (page.length > 0 && bytes + size > budget) return { profiles: page, next: p.windowStart };
    page.push(p);
    bytes += size;
  }
  return { profiles: page };
}
