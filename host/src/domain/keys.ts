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

/** An artifact's id within its endpoint (`ArtifactRef.id`): `<app>.<window start ms>.<name>` (app names have no dot). */
export function artifactId(app: string, windowStart: number, name: string): string {
  return `${app}.${windowStart}.${name}`;
}

/** The parts of an artifact id, or undefined when `id` is not one. */
export function parseArtifactId(id: string): { app: string; windowStart: number; name: string } | undefined {
  const m = /^([a-z][a-z0-9-]{0,62})\.(\d{1,16})\.([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$/.exec(id);
  return m ? { app: m[1]!, windowStart: Number(m[2]), name: m[3]! } : undefined;
}

/** An artifact's object in `mw_artifacts`: `<endpoint id>/<app>/<window start ms>/<name>`. */
export function artifactKey(endpointId: string, app: string, windowStart: number, name: string): string {
  return `${endpointId}/${app}/${windowStart}/${name}`;
}
