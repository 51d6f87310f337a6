/**
 * The artifacts apps attach to windows (`ctx.logArtifact`), from the `mw_artifacts` object store:
 * listed from the objects' metadata (so a listing holds exactly what the retention kept), and
 * served as downloads only: `Content-Disposition: attachment`, `nosniff` and a sandboxing CSP, so
 * an app's SVG or HTML is never rendered on the API's origin.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { ObjectInfo, ObjectStore } from '@nats-io/obj';
import type { ArtifactInfo } from '@modelwatch/protocol';
import { artifactId, artifactKey, parseArtifactId } from '../../domain/keys.js';
import { checkEndpointName, endpointId } from '../../domain/names.js';
import { parseTime } from '../../domain/time.js';
import { ModelwatchError } from '../../errors.js';
import { DataPlaneRoutes, type ArtifactList } from '../contract.js';

export interface ArtifactRoutesOptions {
  artifacts: ObjectStore;
}

/** The headers every artifact download gets. */
export const ARTIFACT_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "sandbox; default-src 'none'",
  'cache-control': 'private, no-store',
} as const;

/** A time of the query (absent or empty: none). @throws {ModelwatchError} INVALID_ARGUMENT */
function timeParam(v: string | undefined, what: string): number | undefined {
  return v === undefined || v === '' ? undefined : parseTime(v, what);
}

function infoOf(o: ObjectInfo, epId: string): ArtifactInfo | undefined {
  const parts = o.name.split('/');
  if (parts.length !== 4 || parts[0] !== epId || o.deleted) return undefined;
  const [, app, start, name] = parts as [string, string, string, string];
  const m = o.metadata ?? {};
  return {
    id: artifactId(app, Number(start), name),
    name,
    contentType: m.contentType ?? 'application/octet-stream',
    size: o.size,
    endpoint: m.endpoint ?? '',
    app,
    version: m.version ?? '',
    windowStart: Number(start),
    windowEnd: Number(m.windowEnd ?? start),
    storedAt: Date.parse(o.mtime),
  };
}

/** The file name of a download, safe in a quoted header value. */
function downloadName(info: { app: string; windowStart: number; name: string }): string {
  return `${info.app}-${new Date(info.windowStart).toISOString().replace(/[:.]/g, '-')}-${info.name}`;
}

export const artifactRoutes: FastifyPluginAsync<ArtifactRoutesOptions> = async (app, { artifacts }) => {
  app.get<{ Params: { name: string }; Querystring: { app?: string; from?: string; to?: string } }>(
    DataPlaneRoutes.artifacts,
    async (req): Promise<ArtifactList> => {
      const name = checkEndpointName(req.params.name);
      const epId = endpointId(name);
      const from = timeParam(req.query.from, 'from');
      const to = timeParam(req.query.to, 'to');
      const list: ArtifactInfo[] = [];
      for (const o of await artifacts.list()) {
        const info = infoOf(o, epId);
        if (!info) continue;
        if (req.query.app && info.app !== req.query.app) continue;
        if (from !== undefined && info.windowStart < from) continue;
        if (to !== undefined && info.windowStart >= to) continue;
        list.push(info);
      }
      list.sort((a, b) => b.windowStart - a.windowStart || a.app.localeCompare(b.app) || a.name.localeCompare(b.name));
      return { artifacts: list };
    },
  );

  app.get<{ Params: { name: string; id: string } }>(DataPlaneRoutes.artifact, async (req, reply) => {
    const name = checkEndpointName(req.params.name);
    const id = parseArtifactId(req.params.id);
    if (!id) throw new ModelwatchError('INVALID_ARGUMENT', `'${req.params.id}' is not an artifact id (<app>.<window start ms>.<name>)`);
    const key = artifactKey(endpointId(name), id.app, id.windowStart, id.name);
    const info = await artifacts.info(key);
    const body = info && !info.deleted ? await artifacts.getBlob(key) : null;
    if (!info || !body) throw new ModelwatchError('NOT_FOUND', `endpoint '${name}' has no artifact '${req.params.id}' (it may have passed the retention)`);
    return reply
      .headers({
        ...ARTIFACT_HEADERS,
        'content-type': info.metadata?.contentType ?? 'application/octet-stream',
        'content-disposition': `attachment; filename="${downloadName(id)}"`,
      })
      .send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  });
};
