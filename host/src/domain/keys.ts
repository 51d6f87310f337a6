/**
 * Idempotency key of a window's analysis by the active version: the same for every delivery of
 * it (task and output message ids, `mw_poison` keys). It names no version on purpose: a window
 * has one active analysis, so a task re-published after a crash by a controller that meanwhile
 * saw another active version (a publish, a rollback) is still dropped as a duplicate.
 */
export function windowKey(endpointId: string, app: string, windowStart: number): string {
  return `${endpointId}.${app}.${windowStart}`;
}

/**
 * Idempotency key of a window's analysis by a shadow version (`plugin publish --shadow`):
 * `<endpoint id>.<app>=<version>.<window start>`, the version's `+` written `_` (a KV key allows
 * neither `@` nor `+`; `_` is not in a semantic version, so keys stay distinct). It differs from
 * the active analysis's key, so both outputs of a window are kept.
 */
export function shadowWindowKey(endpointId: string, app: string, version: string, windowStart: number): string {
  return `${endpointId}.${app}=${version.replaceAll('+', '_')}.${windowStart}`;
}

/** The idempotency key of a task or output: the shadow's when it is a shadow's. */
export function outputKey(w: { endpointId: string; app: string; version: string; windowStart: number; shadow?: true }): string {
  return w.shadow ? shadowWindowKey(w.endpointId, w.app, w.version, w.windowStart) : windowKey(w.endpointId, w.app, w.windowStart);
}

/** The rows id of a batch's windows (results are stored under it too): `<endpoint id>-<batch id>`. */
export function batchSeriesId(endpointId: string, batchId: string): string {
  return `${endpointId}-${batchId}`;
}
