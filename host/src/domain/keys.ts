/** Idempotency key of a window's analysis: the same for every delivery of it (task and output message ids, `mw_poison` keys). */
export function windowKey(endpointId: string, app: string, windowStart: number): string {
  return `${endpointId}.${app}.${windowStart}`;
}

/** The rows id of a batch's windows (results are stored under it too): `<endpoint id>-<batch id>`. */
export function batchSeriesId(endpointId: string, batchId: string): string {
  return `${endpointId}-${batchId}`;
}
