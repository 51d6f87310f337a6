/**
 * Authentication of the HTTP API by bearer tokens, the scope of every route, and the audit log
 * of state changes. One call, `registerAuth(app, deps)`, before any route is added: it resolves
 * each route's scope as it is added (`onRoute`), checks every request's token against it
 * (`onRequest`), and records every state change asked for (`onResponse`).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { PROTOCOL_VERSION, Subjects, type AuditEntry, type TokenScope } from '@modelwatch/protocol';
import { globMatches } from '../domain/glob.js';
import { hasScope } from '../domain/tokens.js';
import type { AuthErrorCode } from '../errors.js';
import type { Logger } from '../logger.js';
import { jsonCodec } from '../nats/codec.js';
import type { TokenCache, TokenStore } from '../store/tokens.js';
import { tokenRoutes } from './routes/tokens.js';
import { sessionIdOf, UiSessions } from './sessions.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * What a token needs to call the route (`admin` may call every route). A route whose scope
     * is declared neither here nor in {@link ROUTE_SCOPES} is refused to every token.
     */
    scope?: TokenScope;
  }
  interface FastifyRequest {
    /** The name of the request's token, once it was checked (`insecure-local` without authentication). */
    mwToken?: string;
    /** The request was authenticated by a dashboard session cookie, not an `Authorization` header. */
    mwSession?: boolean;
  }
}

/**
 * The scope of every route, by `METHOD pattern` (a route may declare its own as `config.scope`).
 * `read`: every GET; `ingest`: posting events and labels; `write`: endpoints, monitoring, plugin
 * configuration, references, dead-letter replays, batches; `admin`: the plugin lifecycle, tokens,
 * the audit log. `/healthz` and `/readyz` are `public` (their route config): no token.
 */
export const ROUTE_SCOPES: Readonly<Record<string, TokenScope>> = {
  'GET /api/v1/health': 'read',
  'GET /metrics': 'read',
  // endpoints
  'GET /api/v1/endpoints': 'read',
  'GET /api/v1/endpoints/:name': 'read',
  'POST /api/v1/endpoints': 'write',
  'POST /api/v1/endpoints/bulk': 'write',
  'PATCH /api/v1/endpoints/:name': 'write',
  'DELETE /api/v1/endpoints/:name': 'write',
  'PUT /api/v1/endpoints/:name/reference': 'write',
  'POST /api/v1/endpoints/:name/reference/from-traffic': 'write',
  'GET /api/v1/endpoints/:name/metrics': 'read',
  'GET /api/v1/endpoints/:name/report': 'read',
  'GET /api/v1/endpoints/:name/metrics/values': 'read',
  'GET /api/v1/endpoints/:name/stats': 'read',
  'GET /api/v1/endpoints/:name/serving': 'read',
  'GET /api/v1/endpoints/:name/artifacts': 'read',
  'GET /api/v1/endpoints/:name/artifacts/:id': 'read',
  // data
  'POST /api/v1/endpoints/:name/events': 'ingest',
  'POST /api/v1/endpoints/:name/labels': 'ingest',
  'POST /api/v1/endpoints/:name/batches': 'write',
  'GET /api/v1/endpoints/:name/batches': 'read',
  'GET /api/v1/endpoints/:name/batches/:id': 'read',
  'GET /api/v1/dlq': 'read',
  'GET /api/v1/dlq/:seq': 'read',
  'POST /api/v1/dlq/replay': 'write',
  // monitoring and results
  'GET /api/v1/monitoring': 'read',
  'PUT /api/v1/monitoring': 'write',
  'GET /api/v1/results': 'read',
  'GET /api/v1/results/latest': 'read',
  // plugins
  'GET /api/v1/plugins': 'read',
  'GET /api/v1/plugins/:name': 'read',
  'GET /api/v1/plugins/:name/compare': 'read',
  'GET /api/v1/plugins/:name/logs': 'read',
  'PATCH /api/v1/plugins/:name/config': 'write',
  'POST /api/v1/plugins/:name/evaluate': 'write',
  'POST /api/v1/plugins': 'admin',
  'DELETE /api/v1/plugins/:name': 'admin',
  'POST /api/v1/plugins/:name/enable': 'admin',
  'POST /api/v1/plugins/:name/disable': 'admin',
  'POST /api/v1/plugins/:name/rollback': 'admin',
  'POST /api/v1/plugins/:name/promote': 'admin',
  'DELETE /api/v1/plugins/:name/shadow': 'admin',
  // tokens and the audit log
  'GET /api/v1/tokens': 'admin',
  'POST /api/v1/tokens': 'admin',
  'DELETE /api/v1/tokens/:name': 'admin',
  'GET /api/v1/audit': 'admin',
  // alerts: rules are admin's to change; people on call acknowledge, resolve and silence (write)
  'GET /api/v1/alerts/rules': 'read',
  'GET /api/v1/alerts/rules/:name': 'read',
  'POST /api/v1/alerts/rules': 'admin',
  'DELETE /api/v1/alerts/rules/:name': 'admin',
  'GET /api/v1/alerts': 'read',
  'GET /api/v1/alerts/:id': 'read',
  'POST /api/v1/alerts/:id/ack': 'write',
  'POST /api/v1/alerts/:id/resolve': 'write',
  'GET /api/v1/alerts/silences': 'read',
  'POST /api/v1/alerts/silences': 'write',
  'DELETE /api/v1/alerts/silences/:id': 'write',
};

/** The token name audit entries carry on a host run with `--insecure-local`. */
export const INSECURE_LOCAL = 'insecure-local';

/** How the API authenticates: the tokens, or none at all (`--insecure-local`, loopback only). */
export interface AuthOptions {
  tokens: TokenCache;
  store: TokenStore;
  /** No authentication: every request may do everything (refused at start on a non-loopback address). */
  insecureLocal: boolean;
}

export interface AuthDeps {
  auth: AuthOptions;
  js: JetStreamClient;
  jsm: JetStreamManager;
  logger: Logger;
}

/**
 * A route as the API serves it: method, pattern, and the scope it needs (`public`: none, as the
 * probes and CORS preflights (`OPTIONS`); `undefined`: none declared, so refused).
 */
export interface RouteScope {
  method: string;
  url: string;
  scope: TokenScope | 'public' | undefined;
}

const routeTables = new WeakMap<FastifyInstance, RouteScope[]>();
const sessionTables = new WeakMap<FastifyInstance, UiSessions>();

/** The dashboard sessions of an API server (`api/sessions.ts`): made by {@link registerAuth}. */
export function uiSessions(app: FastifyInstance): UiSessions {
  const s = sessionTables.get(app);
  if (!s) throw new Error('uiSessions: registerAuth was not called on this server');
  return s;
}

/** Every route of an API server with its scope, in the order they were added. */
export function routeScopes(app: FastifyInstance): readonly RouteScope[] {
  return routeTables.get(app) ?? [];
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Authentication, scopes and the audit log on `app`; call before any route is added. */
export function registerAuth(app: FastifyInstance, deps: AuthDeps): void {
  const { tokens, insecureLocal } = deps.auth;
  const log = deps.logger.child({ component: 'api' });
  const table: RouteScope[] = [];
  routeTables.set(app, table);
  const sessions = new UiSessions({ tokens });
  sessionTables.set(app, sessions);

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      const config = (route.config ?? {}) as { public?: boolean; scope?: TokenScope };
      // a CORS preflight carries no credentials by definition and changes nothing
      if (method === 'OPTIONS' && !config.scope) {
        route.config = { ...route.config, public: true } as typeof route.config;
        table.push({ method, url: route.url, scope: 'public' });
        continue;
      }
      // HEAD answers what GET does
      const declared = config.scope ?? ROUTE_SCOPES[`${method === 'HEAD' ? 'GET' : method} ${route.url}`];
      table.push({ method, url: route.url, scope: config.public ? 'public' : declared });
      if (declared && !config.scope) route.config = { ...route.config, scope: declared } as typeof route.config;
    }
  });

  const refuse = (reply: FastifyReply, code: AuthErrorCode, message: string) => {
    if (code === 'UNAUTHENTICATED') void reply.header('www-authenticate', 'Bearer realm="modelwatch"');
    return reply.status(code === 'UNAUTHENTICATED' ? 401 : 403).send({ error: { code, message } });
  };

  // synchronous hooks (no promise a request) on the path of every ingest post: a refusal is sent, else `done`
  const check = (req: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
    // (Fastify builds routeOptions anew on every read: read once)
    const route = req.routeOptions;
    const config = route.config as { public?: boolean; scope?: TokenScope };
    if (config.public) return;
    if (insecureLocal) {
      req.mwToken = INSECURE_LOCAL;
      return;
    }
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    // without a header, a dashboard session (its cookie); a state change by cookie must say where
    // it comes from (Origin, which the web guard checked), as browsers do for every such request
    const sessionId = m ? undefined : sessionIdOf(req);
    if (!m && sessionId === undefined) {
      return refuse(
        reply,
        'UNAUTHENTICATED',
        'no token: send Authorization: Bearer <token> (the CLI: --token, MODELWATCH_TOKEN, or the admin token the first start wrote to <data-dir>/admin.token)',
      );
    }
    const token = m ? tokens.lookup(m[1]!) : sessions.lookup(sessionId!);
    if (!token) {
      if (!m) return refuse(reply, 'UNAUTHENTICATED', 'the dashboard session ended (signed out, expired, or its token revoked): sign in again');
      return refuse(reply, 'UNAUTHENTICATED', 'unknown token: it was revoked, or never created on this host');
    }
    if (!m) {
      req.mwSession = true;
      if (!READS.has(req.method) && req.headers.origin === undefined) {
        return refuse(reply, 'FORBIDDEN', `${req.method} ${req.url.split('?')[0]!}: a change made with a session cookie must carry an Origin header`);
      }
    }
    req.mwToken = token.name;
    if (route.url === undefined) return; // no such route: a 404 for anyone known
    const scope = config.scope;
    if (!scope) return refuse(reply, 'FORBIDDEN', `${req.method} ${route.url} declares no scope: refused to every token`);
    if (!hasScope(token, scope)) {
      return refuse(
        reply,
        'FORBIDDEN',
        `token '${token.name}' has no '${scope}' scope, which ${req.method} ${route.url} needs (it has: ${token.scopes.join(', ')})`,
      );
    }
    if (scope === 'ingest' && token.endpoints !== undefined && !token.scopes.includes('admin')) {
      const endpoint = (req.params as { name?: string } | undefined)?.name ?? '';
      if (!globMatches(token.endpoints, endpoint)) {
        return refuse(reply, 'FORBIDDEN', `token '${token.name}' may post to endpoints matching '${token.endpoints}', not to '${endpoint}'`);
      }
    }
    return undefined;
  };
  app.addHook('onRequest', (req, reply, done) => {
    if (check(req, reply) === undefined) done();
  });

  // the audit log: every state change asked for, allowed or not, but the data itself (events, labels)
  app.addHook('onResponse', (req, reply, done) => {
    done();
    if (READS.has(req.method)) return;
    const route = req.routeOptions;
    if (route.url === undefined) return;
    const config = route.config as { public?: boolean; scope?: TokenScope };
    if (config.public || config.scope === 'ingest') return;
    const entry: AuditEntry = {
      v: PROTOCOL_VERSION,
      at: Date.now(),
      token: req.mwToken ?? null,
      method: req.method,
      route: route.url,
      target: req.url.split('?')[0]!,
      status: reply.statusCode,
      ip: req.ip,
    };
    deps.js.publish(Subjects.auditApi, jsonCodec.encode(entry)).catch((err: unknown) => log.error({ err, audit: entry }, 'could not write an audit entry'));
  });

  tokenRoutes(app, deps);
}
