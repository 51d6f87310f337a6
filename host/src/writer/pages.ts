import type { ResultsReply, WindowProfile, WindowRecord } from '@modelwatch/protocol';

/**
 * The windows from `offset` on that fit `budget` bytes of JSON (at least one), with `next` (the
 * offset of the following page) when more remain: a query's reply always fits a NATS message.
 */
export function pageOf(windows: readonly WindowRecord[], offset: number, budget: number): Extract<ResultsReply, { windows: WindowRecord[] }> {
  const page: WindowRecord[] = [];
  let bytes = 64;
  let i = Math.max(0, Math.floor(offset));
  for (; i < windows.length; i++) {
    const size = Buffer.byteLength(JSON.stringify(windows[i])) + 1;
    if (page.length > 0 && bytes + size > budget) break;
    page.push(windows[i]!);
    bytes += size;
  }
  return i < windows.length ? { windows: page, next: i } : { windows: page };
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
