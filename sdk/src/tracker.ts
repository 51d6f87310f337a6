/**
 * `@modelwatch/sdk/tracker`: the tracker is now its own package, `@modelwatch/tracker`, so the
 * SDK that monitoring apps use has no NATS dependency. This entry re-exports it for one release.
 *
 * @deprecated Import from `@modelwatch/tracker` (`npm install @modelwatch/tracker`).
 * @module
 */
import * as tracker from '@modelwatch/tracker';

/** @deprecated Import `createTracker` from `@modelwatch/tracker`. */
export const createTracker: typeof tracker.createTracker = tracker.createTracker;
/** @deprecated Import `Tracker` from `@modelwatch/tracker`. */
export type Tracker = tracker.Tracker;
/** @deprecated Import `TrackerOptions` from `@modelwatch/tracker`. */
export type TrackerOptions = tracker.TrackerOptions;
/** @deprecated Import `TrackedRequest` from `@modelwatch/tracker`. */
export type TrackedRequest = tracker.TrackedRequest;
/** @deprecated Import `TrackerStats` from `@modelwatch/tracker`. */
export type TrackerStats = tracker.TrackerStats;
