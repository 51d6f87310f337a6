/**
 * What makes the HTTP API safe to expose to browsers and a network: a strict `Host` check (DNS
 * rebinding), no state change from a simple cross-site request (content type, body, `Origin`),
 * CORS only for an allow-list, security headers, rate limits per client and HTTPS. One Fastify
 * plugin (not encapsulated: its hooks run for every route) registered first by `createApiServer`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AddressInfo, Server, Socket } from 'node:net';
import fastifyCors from '@fastify/cors';
import fastifyRateLimit from '@fastify/rate-limit';
import type { IncomingMessage, ServerOptions, ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';
import { defaultConnectionLimits, parseHostPort, type ConnectionLimits, type HostPattern, type ResolvedWebOptions } from '../config/web.js';
import { ModelwatchError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { HostMetrics } from '../metrics.js';
import { DataPlaneRoutes } from './contract.js';

export interface WebGuardOptions extends ResolvedWebOptions {
  /** The address the API listens on (`--http-host`): a host it answers for, on its port. */
  listenHost: string;
}

/** Loopback only, CORS off, the default rate limit: what a host started without options has. */
export const DEFAULT_WEB_GUARD: Omit<WebGuardOptions, 'connections'> = {
  listenHost: '127.0.0.1',
  allowedHosts: [],
  corsOrigins: [],
  rateLimit: { max: 3000, windowMs: 60_000 },
  tls: undefined,
};

/** The web options of an API given none: {@link DEFAULT_WEB_GUARD} with the default connection limits (read when asked: they read the open-file limit). */
export function defaultWebGuard(): WebGuardOptions {
  return { ...DEFAULT_WEB_GUARD, connections: defaultConnectionLimits() };
}

/** Load balancers' probes: answered whatever `Host` they name. */
const PROBES = new Set(['/healthz', '/readyz']);
/** Routes whose volume is the data plane's (bounded by body limits and token scopes, not by a request count). */
const INGEST_ROUTES = new Set<string>([DataPlaneRoutes.events, DataPlaneRoutes.batches, '/api/v1/endpoints/:name/labels']);
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** The content types a browser sends cross-site without asking the host first (Fetch: CORS-safelisted request-header `Content-Type`). */
const SIMPLE_TYPES = new Set(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data']);
const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '::', '[::]', '']);

/** Node's HTTP server options of the connection limits (`http.createServer`'s, which `https.createServer` takes too). */
type TimeoutOptions = Pick<ServerOptions, 'headersTimeout' | 'requestTimeout' | 'connectionsCheckingInterval'>;

/**
 * Fastify's server options for the web options: the connection timeouts (see {@link guardConnections}),
 * and HTTPS with the certificate and key read from their files.
 */
export async function webServerOptions(web: Pick<ResolvedWebOptions, 'tls' | 'connections'>): Promise<{
  connectionTimeout: number;
  keepAliveTimeout: number;
  requestTimeout: number;
  http?: TimeoutOptions;
  https?: TimeoutOptions & { cert: Buffer; key: Buffer; handshakeTimeout: number };
}> {
  const c = web.connections;
  const timeouts: TimeoutOptions = {
    headersTimeout: c.headersTimeoutMs,
    requestTimeout: c.requestTimeoutMs,
    // (keepAliveTimeout is Fastify's own option below: it sets it on the server it makes)
    // how often Node looks for requests past those two (its default, 30 s, would add up to that much to them)
    connectionsCheckingInterval: Math.min(1000, Math.ceil(c.headersTimeoutMs / 2)),
  };
  // Fastify sets these on the server it makes (its defaults: no timeout, no request timeout)
  const fastify = { connectionTimeout: c.idleTimeoutMs, keepAliveTimeout: c.idleTimeoutMs, requestTimeout: c.requestTimeoutMs };
  if (!web.tls) return { ...fastify, http: timeouts };
  const read = async (file: string, what: string) => {
    try {
      return await readFile(file);
    } catch (err) {
      throw new ModelwatchError('INVALID_OPTIONS', `tls ${what}: cannot read '${file}': ${(err as Error).message}`, { cause: err });
    }
  };
  const cert = await read(web.tls.cert, 'certificate');
  const key = await read(web.tls.key, 'key');
  // a TLS handshake comes before any request: bounded as the headers are
  return { ...fastify, https: { ...timeouts, cert, key, handshakeTimeout: c.headersTimeoutMs } };
}

/** How often, at most, refused connections are logged (the metric counts each one). */
const REFUSED_WARN_INTERVAL_MS = 60_000;

/**
 * Bound the connections of the API's server (made with {@link webServerOptions}) so that no client
 * takes the file handles the process needs: at most `maxConnections` open (a new one past it is
 * closed as soon as accepted: counted, and logged at most once a minute), and an idle one closed.
 *
 * Idle is Node's socket timeout (`connectionTimeout`, and `keepAliveTimeout` between requests):
 * nothing received or sent for `idleTimeoutMs`. Node would then close the socket whatever it is
 * doing; here it is closed unless the host is working on a request it has whole, with nothing
 * waiting for the client to read: a route that takes long or is silent between lines (a log
 * follow, the live feed, an evaluation, a writer asked with a 30 s timeout) keeps its connection,
 * and a client that stops reading a reply, or stops sending a body, loses it: Node refreshes the
 * timer as writes reach the kernel, not as they are queued, so once the kernel's buffers of a
 * client that reads nothing are full, the host's writes (if any: the streams stop queueing for
 * it) do not keep it. Slow headers and bodies are Node's `headersTimeout` and `requestTimeout`
 * (answered 408).
 */
export function guardConnections(server: Server, limits: ConnectionLimits, deps: { logger: Logger; metrics?: HostMetrics }): void {
  const { maxConnections } = limits;
  server.maxConnections = maxConnections;
  let open = 0;
  server.on('connection', (socket: Socket) => {
    open++;
    socket.once('close', () => open--);
  });
  deps.metrics?.observeHttpConnections(() => open);

  let refused = 0;
  let warnedAt = -Infinity;
  server.on('drop', () => {
    deps.metrics?.httpConnectionRefused();
    refused++;
    const now = Date.now();
    if (now - warnedAt < REFUSED_WARN_INTERVAL_MS) return;
    deps.logger.warn(
      { refused, maxConnections },
      `HTTP connections refused: ${maxConnections} were open (--http-max-connections); ${refused} refused since the last warning`,
    );
    warnedAt = now;
    refused = 0;
  });

  // the requests of each connection the host has not answered yet (a keep-alive client may pipeline)
  const inFlight = new WeakMap<object, Set<IncomingMessage>>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    let reqs = inFlight.get(req.socket);
    if (!reqs) inFlight.set(req.socket, (reqs = new Set()));
    const pending = reqs;
    pending.add(req);
    res.once('close', () => pending.delete(req));
  });
  // a listener of its own: Node then leaves the socket to it
  server.on('timeout', (socket: Socket) => {
    const reqs = inFlight.get(socket);
    if (reqs !== undefined && reqs.size > 0 && socket.writableLength === 0 && [...reqs].every((r) => r.complete)) return;
    socket.destroy();
  });
}

/**
 * The security headers helmet sends for `options`, worked out once: they do not depend on the
 * request, and helmet's middleware (or `@fastify/helmet`, which builds it anew for each request)
 * would parse its options again on every request of the data plane.
 */
export function securityHeaders(options: Readonly<HelmetOptions>): Readonly<Record<string, string>> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => delete headers[name.toLowerCase()],
  };
  helmet(options)({} as IncomingMessage, res as unknown as ServerResponse, (err?: unknown) => {
    if (err) throw err as Error;
  });
  return Object.freeze(headers);
}

const ingestPost = (req: FastifyRequest) => req.method === 'POST' && INGEST_ROUTES.has(req.routeOptions.url ?? '');

function refuse(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.status(status).send({ error: { code, message } });
}

export const webGuard = fp<WebGuardOptions>(
  async (app, opts) => {
    const defaultPort = opts.tls ? 443 : 80;
    // the port is the server's once it listens (0 = any free port): the list is made at the first request
    let own: HostPattern[] | undefined;
    const ownHosts = (): HostPattern[] => {
      if (own) return own;
      const port = (app.server.address() as AddressInfo | null)?.port;
      const names = ['localhost', '127.0.0.1', '[::1]'];
      const listen = opts.listenHost.toLowerCase();
      if (!WILDCARD_ADDRESSES.has(listen)) names.push(listen.includes(':') && !listen.startsWith('[') ? `[${listen}]` : listen);
      return (own = names.map((hostname) => ({ hostname, port })));
    };
    // the verdicts on the Host headers seen (a client sends the same one on every request); bounded, a flood of names starts it afresh
    const verdicts = new Map<string, boolean>();
    const allowedHost = (text: string | undefined): boolean => {
      if (opts.allowedHosts === '*') return true;
      if (text === undefined) return false;
      let ok = verdicts.get(text);
      if (ok === undefined) {
        if (verdicts.size >= 256) verdicts.clear();
        verdicts.set(text, (ok = judgeHost(text)));
      }
      return ok;
    };
    const judgeHost = (text: string): boolean => {
      const h = parseHostPort(text);
      if (!h) return false;
      const port = h.port ?? defaultPort;
      const extra = opts.allowedHosts === '*' ? [] : opts.allowedHosts;
      return [...ownHosts(), ...extra].some((p) => p.hostname === h.hostname && (p.port === undefined || p.port === port));
    };
    const allowedOrigin = (origin: string): boolean => {
      if (opts.corsOrigins.includes(origin)) return true;
      let url: URL;
      try {
        url = new URL(origin);
      } catch {
        return false; // `null` (a sandboxed frame, a file) and anything else that is no URL
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
      return allowedHost(url.port ? url.host : `${url.host}:${url.protocol === 'https:' ? 443 : 80}`);
    };

    // headers first, so that refusals carry them too
    const security = securityHeaders({
      contentSecurityPolicy: {
        useDefaults: false,
        // JSON for the API; a future /ui of scripts and styles served by the host itself
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:'],
          fontSrc: ["'self'"],
          connectSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
        },
      },
      // only over HTTPS: over HTTP a browser ignores it, and upgrading requests would break a plain-HTTP /ui
      hsts: opts.tls ? { maxAge: 31_536_000 } : false,
    });
    app.addHook('onRequest', (_req, reply, done) => {
      void reply.headers(security);
      done();
    });

    // synchronous (no promise a request): a refusal is sent, else `done`
    const guard = (req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
      const path = req.url.split('?')[0]!;
      if (PROBES.has(path)) return;
      if (!allowedHost(req.headers.host)) {
        return refuse(
          reply,
          421,
          'HOST_NOT_ALLOWED',
          `Host '${req.headers.host ?? ''}' is not one this API answers for (allowed: its own address, localhost, 127.0.0.1 and [::1] on its port, and --allowed-hosts): a request for another name may be a DNS-rebinding page`,
        );
      }
      if (!UNSAFE_METHODS.has(req.method)) return;
      const origin = req.headers.origin;
      if (origin !== undefined && !allowedOrigin(origin)) {
        return refuse(
          reply,
          403,
          'ORIGIN_NOT_ALLOWED',
          `${req.method} ${path}: Origin '${origin}' may not change state (allowed: the API's own host names and --cors-origins): a page on another site sent it`,
        );
      }
      const type = req.headers['content-type'];
      const what = `${req.method} ${path}`;
      if (type === undefined || type.trim() === '') {
        // PUT, PATCH and DELETE are never simple requests: a browser asks the host first (CORS preflight)
        if (req.method !== 'POST') return;
        return refuse(
          reply,
          415,
          'UNSAFE_CONTENT_TYPE',
          `${what}: a POST without a Content-Type is one any web page may send; send a JSON body with Content-Type: application/json ({} when there is nothing to say)`,
        );
      }
      const essences = type.split(',').map((t) => t.split(';')[0]!.trim().toLowerCase());
      if (essences.length > 1 || essences.some((e) => SIMPLE_TYPES.has(e))) {
        return refuse(
          reply,
          415,
          'UNSAFE_CONTENT_TYPE',
          `${what}: Content-Type '${type}' is refused on a request that changes state, because a page on any site may send it without asking the host (text/plain, application/x-www-form-urlencoded and multipart/form-data are): send application/json (or text/csv, application/x-ndjson where the route takes them)`,
        );
      }
      return undefined;
    };
    app.addHook('onRequest', (req, reply, done) => {
      if (guard(req, reply) === undefined) done();
    });

    if (opts.corsOrigins.length) {
      await app.register(fastifyCors, {
        origin: [...opts.corsOrigins],
        methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
        allowedHeaders: ['content-type', 'authorization', 'idempotency-key', 'accept'],
        maxAge: 600,
      });
    }

    if (opts.rateLimit) {
      const { max, windowMs } = opts.rateLimit;
      // the data plane's posts are not counted (allowList below): they get no rate-limit hook at all
      app.addHook('onRoute', (route) => {
        const methods = Array.isArray(route.method) ? route.method : [route.method];
        if (methods.length === 1 && methods[0] === 'POST' && INGEST_ROUTES.has(route.url)) route.config = { ...route.config, rateLimit: false };
      });
      await app.register(fastifyRateLimit, {
        global: true,
        max,
        timeWindow: windowMs,
        // per token when the request carries one, else per address; never the secret itself as a key
        keyGenerator: (req) => {
          // allow-listed anyway (below): no hash to make
          if (ingestPost(req)) return 'ingest';
          const auth = req.headers.authorization;
          return auth ? `auth:${createHash('sha256').update(auth).digest('hex')}` : `ip:${req.ip}`;
        },
        allowList: (req) => ingestPost(req) || PROBES.has(req.url.split('?')[0]!),
        errorResponseBuilder: (_req, ctx) =>
          Object.assign(new Error(`rate limit: more than ${ctx.max} requests in ${windowMs / 1000} s from this client; try again in ${ctx.after}`), {
            statusCode: ctx.statusCode,
            code: 'RATE_LIMITED',
          }),
      });
    }
  },
  { name: 'modelwatch-web-guard', fastify: '5.x' },
);
