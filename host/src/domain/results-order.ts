import type { WindowCursor, WindowRecord } from '@modelwatch/protocol';
/**
 * The order of a results query's windows (`mw.svc.results.query`), and a window's place in it:
 * the cursor a page of windows ends at, so the next page starts after it however many windows
 * were stored meanwhile.
 */

/** How many windows a results query returns when it names no limit. */
export const DEFAULT_RESULTS_LIMIT = 10_000;

/** A window's place in a results query's order. */
export function windowCursor(w: WindowRecord): WindowCursor {
  return { windowStart: w.windowStart, endpointName: w.endpointName, app: w.app, version: w.version };
}

/** The order of a results query: newest first, then by endpoint name, app and version (a shadow's windows, one per version). */
export function windowOrder(a: WindowCursor, b: WindowCursor): number {
  return b.windowStart - a.windowStart || cmp(a.endpointName, b.endpointName) || cmp(a.app, b.app) || cmp(a.version, b.version);
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
