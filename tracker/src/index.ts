/**
 * `@modelwatch/tracker`: send inference events from a Node model server to modelwatch over NATS
 * JetStream, batched, sampled the way MLRun samples, with bounded memory. What it sends is the
 * request batch of `@modelwatch/protocol` (`RequestBatch`) on `mw.events.<endpoint>`.
 *
 * @example
 * ```ts
 * import { createTracker } from '@modelwatch/tracker';
 * const tracker = createTracker({ servers: 'nats://127.0.0.1:4222', endpoint: 'churn', samplingPercentage: 10 });
 * // in the request handler:
 * tracker.track({ inputs: [[42, 55000, 3]], outputs: [0.12], requestId: req.id, latencyMicros: 850 });
 * // on shutdown:
 * await tracker.close();
 * ```
 * @module
 */
export { createTracker, type Tracker, type TrackerOptions, type TrackedRequest, type TrackerStats } from './tracker.js';
