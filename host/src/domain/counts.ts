import type { ServingCounts } from '@modelwatch/protocol';

/** Serving counters at zero. */
export function emptyCounts(): ServingCounts {
  return {
    requests: 0,
    errors: 0,
    predictions: 0,
    estimatedPredictions: 0,
    lateRows: 0,
    dropped: 0,
    latencyCount: 0,
    latencySum: 0,
    firstRequest: null,
    lastRequest: null,
  };
}

/** Add `b` into `a`. */
export function addCounts(a: ServingCounts, b: ServingCounts): ServingCounts {
  a.requests += b.requests;
  a.errors += b.errors;
  a.predictions += b.predictions;
  a.estimatedPredictions += b.estimatedPredictions;
  a.lateRows += b.lateRows;
  a.dropped += b.dropped;
  a.latencyCount += b.latencyCount;
  a.latencySum += b.latencySum;
  if (b.firstRequest !== null && (a.firstRequest === null || b.firstRequest < a.firstRequest)) a.firstRequest = b.firstRequest;
  if (b.lastRequest !== null && (a.lastRequest === null || b.lastRequest > a.lastRequest)) a.lastRequest = b.lastRequest;
  return a;
}
