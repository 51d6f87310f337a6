/**
 * Every route of the HTTP API declares the scope a token needs (deny by default: a route without
 * one is refused to every token), and the scopes are the ones the README states.
 */
import { describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { routeScopes } from '../src/api/auth.js';
import { createApiServer, type ApiDeps } from '../src/api/server.js';
import { createLogger } from '../src/logger.js';

/** An API server built with stand-ins of its connections: building it adds the routes and touches none of them. */
async function apiServer(): Promise<FastifyInstance> {
  const unused = new Proxy(
    {},
    {
      get: (_t, key) => {
        if (key === 'then') return undefined;
        return new Proxy(() => unused, { get: () => unused, apply: () => unused });
      },
    },
  );
  const deps = {
    nc: unused,
    js: unused,
    jsm: unused,
    buckets: unused,
    endpoints: unused,
    logger: createLogger('silent'),
    maxFutureSkewMs: 300_000,
    allowedLatenessMs: 1000,
    retentionMs: 86_400_000,
    version: 'test',
    auth: { tokens: unused, store: unused, insecureLocal: false },
    alerts: { rules: unused, alerts: unused, silences: unused, notifier: unused },
  } as unknown as ApiDeps;
  const app = await createApiServer(deps);
  await app.ready();
  return app;
}

describe('route scopes', () => {
  it('every registered route declares its scope; /healthz and /readyz are public', async () => {
    const app = await apiServer();
    const routes = routeScopes(app);
    expect(routes.length).toBeGreaterThan(40);
    const undeclared = routes.filter((r) => r.scope === undefined).map((r) => `${r.method} ${r.url}`);
    expect(undeclared).toEqual([]);
    // CORS preflights (OPTIONS) carry no token and change nothing
    const publicRoutes = routes.filter((r) => r.scope === 'public' && r.method !== 'OPTIONS').map((r) => `${r.method} ${r.url}`);
    // and the dashboard's page, its static files and its sign-in (api/ui.ts): what a signed-out browser needs
    const ui = ['GET /ui', 'GET /ui/', 'GET /ui/assets/*', 'GET /ui/session', 'HEAD /ui', 'HEAD /ui/', 'HEAD /ui/assets/*', 'HEAD /ui/session'];
    expect(publicRoutes.sort()).toEqual(
      ['GET /healthz', 'GET /readyz', 'HEAD /healthz', 'HEAD /readyz', ...ui, 'POST /ui/session', 'DELETE /ui/session'].sort(),
    );
    await app.close();
  });

  it('every GET is read (the tokens and the audit log: admin); events and labels ingest; the plugin lifecycle admin', async () => {
    const app = await apiServer();
    const scope = new Map(routeScopes(app).map((r) => [`${r.method} ${r.url}`, r.scope]));
    for (const [route, s] of scope) {
      if (!route.startsWith('GET ') || s === 'public') continue;
      expect([route, s]).toEqual([route, route.startsWith('GET /api/v1/tokens') || route.startsWith('GET /api/v1/audit') ? 'admin' : 'read']);
    }
    expect(scope.get('POST /api/v1/endpoints/:name/events')).toBe('ingest');
    expect(scope.get('POST /api/v1/endpoints/:name/labels')).toBe('ingest');
    for (const r of [
      'POST /api/v1/plugins',
      'DELETE /api/v1/plugins/:name',
      'POST /api/v1/plugins/:name/disable',
      'POST /api/v1/plugins/:name/rollback',
      'POST /api/v1/tokens',
    ]) {
      expect(scope.get(r), r).toBe('admin');
    }
    for (const r of [
      'POST /api/v1/endpoints',
      'PUT /api/v1/monitoring',
      'PATCH /api/v1/plugins/:name/config',
      'POST /api/v1/dlq/replay',
      'POST /api/v1/endpoints/:name/batches',
    ]) {
      expect(scope.get(r), r).toBe('write');
    }
    await app.close();
  });
});
