/** Window profiles and results roll-ups over HTTP: what the writer keeps of past windows after their rows expired. */
import type { FastifyPluginAsync } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import type { EndpointRecord, ProfileResolution, WindowProfile } from '@modelwatch/protocol';
import { checkEndpointName } from '../../domain/names.js';
import { ModelwatchError } from '../../errors.js';
import type { WatchedKv } from '../../store/watched-kv.js';
import { ProfileRoutes, type ProfilesReply, type RollupsReply, type WindowReply } from '../contract.js';
import { askWriter } from './endpoints.js';
import { parseTime } from '../../domain/time.js';

export interface ProfileRoutesOptions {
  nc: NatsConnection;
  endpoints: WatchedKv<EndpointRecord>;
}

const RESOLUTIONS: readonly ProfileResolution[] = ['window', 'hour', 'day'];
const MAX_LIMIT = 10_000;

function limitArg(v: string | undefined): number {
  if (v === undefined) return 1000;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0 || n > MAX_LIMIT)
    throw new ModelwatchError('INVALID_ARGUMENT', `limit: expected a whole number from 1 to ${MAX_LIMIT}, got '${v}'`);
  return n;
}

function resolutionArg<R extends ProfileResolution>(v: string | undefined, allowed: readonly R[], fallback: R | undefined): R {
  if (v === undefined && fallback) return fallback;
  if (!allowed.includes(v as R)) throw new ModelwatchError('INVALID_ARGUMENT', `resolution: expected ${allowed.join(', ')}, got '${v ?? ''}'`);
  return v as R;
}

export const profileRoutes: FastifyPluginAsync<ProfileRoutesOptions> = async (app, { nc, endpoints }) => {
  const endpoint = async (raw: string) => {
    const name = checkEndpointName(raw);
    const ep = await endpoints.get(name);
    if (!ep) throw new ModelwatchError('NOT_FOUND', `no endpoint named '${name}'`);
    return ep;
  };

  app.get<{ Params: { name: string }; Querystring: { from?: string; to?: string; limit?: string; resolution?: string } }>(
    ProfileRoutes.profiles,
    { config: { scope: 'read' } },
    async (req): Promise<ProfilesReply> => {
      const ep = await endpoint(req.params.name);
      const q = req.query;
      const limit = limitArg(q.limit);
      const resolution = resolutionArg(q.resolution, RESOLUTIONS, 'window');
      let from = q.from === undefined ? undefined : parseTime(q.from, 'from');
      const to = q.to === undefined ? undefined : parseTime(q.to, 'to');
      const profiles: WindowProfile[] = [];
      // the writer answers in pages under NATS' max payload
      for (;;) {
        const reply = await askWriter(nc, {
          profiles: { endpointId: ep.id, resolution, limit: limit - profiles.length, ...(from !== undefined && { from }), ...(to !== undefined && { to }) },
        });
        if (!('profiles' in reply)) throw new ModelwatchError('INTERNAL', 'the writer did not answer with profiles');
        profiles.push(...reply.profiles);
        if (reply.next === undefined || profiles.length >= limit) break;
        from = reply.next;
      }
      return { profiles: profiles.map((p) => ({ ...p, endpoint: ep.name })) };
    },
  );

  app.get<{ Params: { name: string; windowStart: string } }>(ProfileRoutes.profile, { config: { scope: 'read' } }, async (req): Promise<WindowProfile> => {
    const ep = await endpoint(req.params.name);
    const start = parseTime(req.params.windowStart, 'window start');
    const reply = await askWriter(nc, { profiles: { endpointId: ep.id, from: start, to: start + 1, limit: 1 } });
    if (!('profiles' in reply)) throw new ModelwatchError('INTERNAL', 'the writer did not answer with profiles');
    const p = reply.profiles[0];
    if (!p) throw new ModelwatchError('NOT_FOUND', `endpoint '${ep.name}' has no profile of a window starting at ${new Date(start).toISOString()}`);
    return { ...p, endpoint: ep.name };
  });

  app.get<{ Params: { name: string; windowStart: string } }>(ProfileRoutes.window, { config: { scope: 'read' } }, async (req): Promise<WindowReply> => {
    const ep = await endpoint(req.params.name);
    const start = parseTime(req.params.windowStart, 'window start');
    const reply = await askWriter(nc, { window: { endpointId: ep.id, windowStart: start } });
    if (!('window' in reply)) throw new ModelwatchError('INTERNAL', 'the writer did not answer with a window');
    const { windows, profile } = reply.window;
    if (windows.length === 0 && !profile)
      throw new ModelwatchError('NOT_FOUND', `endpoint '${ep.name}' has no stored window starting at ${new Date(start).toISOString()}`);
    return { endpoint: ep.name, windowStart: start, windows, profile: profile && { ...profile, endpoint: ep.name } };
  });

  app.get<{ Params: { name: string }; Querystring: { from?: string; to?: string; limit?: string; resolution?: string; app?: string } }>(
    ProfileRoutes.rollups,
    { config: { scope: 'read' } },
    async (req): Promise<RollupsReply> => {
      const ep = await endpoint(req.params.name);
      const q = req.query;
      const reply = await askWriter(nc, {
        rollups: {
          endpointId: ep.id,
          resolution: resolutionArg(q.resolution, ['hour', 'day'] as const, undefined),
          limit: limitArg(q.limit),
          ...(q.app !== undefined && { app: q.app }),
          ...(q.from !== undefined && { from: parseTime(q.from, 'from') }),
          ...(q.to !== undefined && { to: parseTime(q.to, 'to') }),
        },
      });
      if (!('rollups' in reply)) throw new ModelwatchError('INTERNAL', 'the writer did not answer with roll-ups');
      return { rollups: reply.rollups.map((r) => ({ ...r, endpointName: ep.name })) };
    },
  );
};
