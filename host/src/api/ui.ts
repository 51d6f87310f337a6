/**
 * The web dashboard: its static files at `/ui` (built by `host/scripts/build-ui.mjs` into
 * `host/ui-dist`, shipped in the package), the sign-in that turns an API token into a session
 * cookie, the live feed of stored windows (Server-Sent Events), the overview in one request, and
 * the downsampled series its charts draw.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { Subjects, type EndpointRecord, type LatestResult, type PluginRecord, type SeriesPoint, type WindowStoredMessage } from '@modelwatch/protocol';
import { checkEndpointName, endpointId } from '../domain/names.js';
import { ModelwatchError } from '../errors.js';
import { jsonCodec } from '../nats/codec.js';
import { PluginStore } from '../store/plugins.js';
import type { WatchedKv } from '../store/watched-kv.js';
import type { EndpointSummary } from './contract.js';
import { askWriter } from './routes/endpoints.js';
import { parseTime } from '../domain/time.js';
import { endpointStats } from './routes/serving.js';
import { sessionCookie, sessionIdOf, type UiSessions } from './sessions.js';

/** Where the built dashboard is: `host/ui-dist`, beside `src` and `dist`. */
export const UI_DIST = fileURLToPath(new URL('../../ui-dist/', import.meta.url));

/** The dashboard's own routes (the pages call the rest of the API as the CLI does). */
export const UiRoutes = {
  page: '/ui',
  assets: '/ui/assets/*',
  session: '/ui/session',
  live: '/api/v1/live',
  overview: '/api/v1/overview',
  series: '/api/v1/endpoints/:name/series',
} as const;

export interface UiRoutesOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  /** The plugin records' bucket (`mw_plugins`). */
  plugins: KV;
  endpoints: WatchedKv<EndpointRecord>;
  /** The record as listings show it (`GET /api/v1/endpoints`). */
  summary: (e: EndpointRecord) => Omit<EndpointSummary, 'stats'>;
  insecureLocal: boolean;
  /** The API server's sessions (`uiSessions(app)` of `api/auth.ts`). */
  sessions: UiSessions;
  /** Whether the API is served over HTTPS: the session cookie is then `Secure`. */
  https: boolean;
}

export type { SeriesPoint } from '@modelwatch/protocol';
export { downsample } from '../domain/series.js';

/** `GET /api/v1/endpoints/:name/series`. */
export interface SeriesReply {
  endpoint: string;
  name: string;
  /** Windows in the range, before downsampling. */
  total: number;
  downsampled: boolean;
  points: SeriesPoint[];
}

/** Stored-window notices remembered per live connection to drop the same window told by another writer. */
export const LIVE_DEDUP_KEYS = 10_000;

/**
 * What identifies one stored output in `mw.stored.<endpoint id>` notices: its window (endpoint,
 * app, version, active or shadow, start) and when its runner completed it. Every writer of a
 * scale-out deployment stores the same output message and tells it with the same key; a window
 * stored again from a new output (a later attempt) has another `completedAt` and is told again.
 */
export function storedWindowKey(n: WindowStoredMessage): string {
  const o = n.output;
  return `${o.endpointId}|${o.app}|${o.version}|${o.shadow ? 's' : 'a'}|${o.windowStart}|${o.completedAt}`;
}

/** A bounded set of the newest keys: `add` says whether the key is new (the oldest is forgotten past `max`). */
export class RecentKeys {
  private readonly keys = new Set<string>();
  constructor(private readonly max: number) {}
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    if (this.keys.size > this.max) this.keys.delete(this.keys.values().next().value!);
    return true;
  }
}

/**
 * `GET /api/v1/overview`: what the overview draws, in one request. The endpoints as
 * `GET /api/v1/endpoints` lists them (from the API's watched copy of the endpoints' bucket), the
 * latest value of each result as `GET /api/v1/results/latest` (without `extraData`), and the
 * plugin records as `GET /api/v1/plugins`.
 */
export interface OverviewReply {
  endpoints: EndpointSummary[];
  latest: Array<Omit<LatestResult, 'extraData'>>;
  plugins: PluginRecord[];
}

/** What `GET /api/v1/live` sends for each stored window (event `window`). */
export interface LiveWindow {
  endpoint: string;
  endpointId: string;
  app: string;
  windowStart: number;
  windowEnd: number;
  outcome: string;
  storedAt: number;
  results: Array<{ name: string; value: number; status: number }>;
}

/** What `GET /api/v1/live` sends (event `lagged`) to a client that fell behind, once it caught up: how many windows it was not sent. */
export interface LiveLagged {
  dropped: number;
}

/**
 * How much of the live feed may wait in the host for one client (Node's buffer of its socket,
 * beyond what the kernel holds): past it the windows stored meanwhile are not sent to that client
 * but counted, and once it has read what was queued it is told `lagged` with their number.
 */
export const LIVE_MAX_BUFFERED_BYTES = 256 * 1024;

const MAX_POINTS = 20_000;

export const uiRoutes: FastifyPluginAsync<UiRoutesOptions> = async (app, opts) => {
  const { sessions } = opts;
  const streams = new Set<() => void>();
  app.addHook('onClose', async () => {
    for (const end of streams) end();
  });
  const built = existsSync(UI_DIST);
  if (built) await app.register(fastifyStatic, { root: UI_DIST, serve: false });

  const page = async (_req: unknown, reply: FastifyReply) => {
    if (!built) {
      return reply.status(404).send({ error: { code: 'NOT_FOUND', message: `the dashboard is not built (no ${UI_DIST}): run npm run build` } });
    }
    return reply.header('cache-control', 'no-cache').sendFile('index.html');
  };
  app.get(UiRoutes.page, { config: { public: true } }, page);
  app.get('/ui/', { config: { public: true } }, page);
  app.get<{ Params: { '*': string } }>(UiRoutes.assets, { config: { public: true } }, async (req, reply) => {
    if (!built) return page(req, reply);
    return reply.sendFile(`assets/${req.params['*']}`);
  });

  // ---- sign-in: a token for a session cookie
  app.get(UiRoutes.session, { config: { public: true } }, async (req) => {
    if (opts.insecureLocal) return { signedIn: true, name: 'insecure-local', scopes: ['admin'], insecureLocal: true };
    const id = sessionIdOf(req);
    const token = id === undefined ? undefined : sessions.lookup(id);
    // not signed in is an answer, not an error: the page asks before it shows the sign-in
    if (!token) return { signedIn: false };
    return { signedIn: true, name: token.name, scopes: token.scopes, insecureLocal: false };
  });
  app.post<{ Body: { token?: unknown } | undefined }>(UiRoutes.session, { config: { public: true } }, async (req, reply) => {
    const token = req.body?.token;
    if (typeof token !== 'string' || token.trim() === '') throw new ModelwatchError('INVALID_ARGUMENT', 'token: expected the API token as a string');
    const s = sessions.create(token.trim());
    if (!s) return reply.status(401).send({ error: { code: 'UNAUTHENTICATED', message: 'unknown token: it was revoked, or never created on this host' } });
    reply.header('set-cookie', sessionCookie(s.id, { secure: opts.https, maxAgeS: sessions.ttlMs / 1000 }));
    return { name: s.token.name, scopes: s.token.scopes, expiresAt: new Date(s.expiresAt).toISOString() };
  });
  app.delete(UiRoutes.session, { config: { public: true } }, async (req, reply) => {
    const id = sessionIdOf(req);
    if (id !== undefined) sessions.end(id);
    reply.header('set-cookie', sessionCookie(undefined, { secure: opts.https }));
    return reply.status(204).send();
  });

  // ---- live: one Server-Sent Event per stored window
  app.get<{ Querystring: { endpoint?: string } }>(UiRoutes.live, { config: { scope: 'read' } }, async (req, reply) => {
    const only = req.query.endpoint === undefined ? undefined : checkEndpointName(req.query.endpoint);
    const subject = only === undefined ? Subjects.storedAll : Subjects.stored(endpointId(only));
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': modelwatch live\nretry: 1000\n\n');
    // every writer of a scale-out deployment stores each window and says so: the feed sends it once
    const seen = new RecentKeys(LIVE_DEDUP_KEYS);
    // a client that does not keep up (a frozen tab, a slow link, one that reads nothing) is not
    // queued for without bound: past LIVE_MAX_BUFFERED_BYTES its windows are dropped, and it is
    // told how many once it has read the rest (`lagged`: the dashboard then reloads what it shows)
    let dropped = 0;
    res.on('drain', () => {
      if (dropped === 0) return;
      res.write(`event: lagged\ndata: ${JSON.stringify({ dropped } satisfies LiveLagged)}\n\n`);
      dropped = 0;
    });
    let sub: Subscription | undefined = opts.nc.subscribe(subject, {
      callback: (err, m) => {
        if (err) return;
        let n: WindowStoredMessage;
        try {
          n = jsonCodec.decode<WindowStoredMessage>(m.data);
        } catch {
          return;
        }
        const o = n.output;
        if (!seen.add(storedWindowKey(n))) return;
        if (res.writableLength >= LIVE_MAX_BUFFERED_BYTES) {
          dropped++;
          return;
        }
        const event: LiveWindow = {
          endpoint: o.endpointName,
          endpointId: o.endpointId,
          app: o.app,
          windowStart: o.windowStart,
          windowEnd: o.windowEnd,
          outcome: o.outcome,
          storedAt: n.storedAt,
          results: o.results.map((r) => ({ name: r.name, value: r.value, status: r.status })),
        };
        res.write(`event: window\ndata: ${JSON.stringify(event)}\n\n`);
      },
    });
    // (none while the client has not read what is queued: it would only add to it)
    const beat = setInterval(() => {
      if (!res.writableNeedDrain) res.write(': beat\n\n');
    }, 15_000);
    const end = () => {
      clearInterval(beat);
      sub?.unsubscribe();
      sub = undefined;
      streams.delete(end);
      if (!res.writableEnded) res.end();
    };
    streams.add(end);
    req.raw.on('close', end);
  });

  // ---- the overview: endpoints with their stats, latest values and plugins in one request
  const plugins = new PluginStore(opts.plugins);
  app.get(UiRoutes.overview, { config: { scope: 'read' } }, async (): Promise<OverviewReply> => {
    const eps = opts.endpoints.all().sort((a, b) => a.name.localeCompare(b.name));
    const [stats, latest, records] = await Promise.all([
      endpointStats(opts, eps),
      askWriter(opts.nc, { latest: true }).then((r) => ('latest' in r ? r.latest : [])),
      plugins.list(),
    ]);
    return {
      endpoints: eps.map((e) => ({ ...opts.summary(e), stats: stats.get(e.name) })),
      latest: latest.map(({ extraData: _extra, ...rest }) => rest),
      plugins: records,
    };
  });

  // ---- a result's or metric's values over a range, downsampled on the server
  app.get<{ Params: { name: string }; Querystring: { name?: string; app?: string; result?: string; from?: string; to?: string; points?: string } }>(
    UiRoutes.series,
    { config: { scope: 'read' } },
    async (req): Promise<SeriesReply> => {
      const ep = await opts.endpoints.get(checkEndpointName(req.params.name));
      if (!ep) throw new ModelwatchError('NOT_FOUND', `no endpoint named '${req.params.name}'`);
      const q = req.query;
      const full = q.name ?? (q.app && q.result ? `${q.app}.result.${q.result}` : undefined);
      if (!full || !/^[a-z][a-z0-9-]{0,62}\.(result|metric)\.[A-Za-z_][A-Za-z0-9_]*$/.test(full)) {
        throw new ModelwatchError('INVALID_ARGUMENT', 'give app and result, or name as <app>.result.<name> or <app>.metric.<name>');
      }
      const want = q.points === undefined ? 1000 : Number(q.points);
      if (!Number.isInteger(want) || want < 10 || want > MAX_POINTS) {
        throw new ModelwatchError('INVALID_ARGUMENT', `points: expected a whole number from 10 to ${MAX_POINTS}, got '${q.points}'`);
      }
      const from = q.from === undefined ? undefined : parseTime(q.from, 'from');
      const to = q.to === undefined ? undefined : parseTime(q.to, 'to');
      const [app, type, name] = full.split('.') as [string, 'result' | 'metric', string];
      // one range read of the writer's series index, downsampled there: only the points kept cross NATS
      const reply = await askWriter(opts.nc, {
        series: { endpointId: ep.id, app, type, name, points: want, ...(from !== undefined && { from }), ...(to !== undefined && { to }) },
      });
      if (!('series' in reply)) throw new ModelwatchError('INTERNAL', 'the writer did not answer with a series');
      const { total, points } = reply.series;
      return { endpoint: ep.name, name: full, total, downsampled: points.length < total, points };
    },
  );
};
