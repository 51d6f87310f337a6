/** `GET /metrics`: the host's operator metrics in Prometheus text format (`host/src/metrics.ts`). */
import type { FastifyPluginAsync } from 'fastify';
import type { HostMetrics } from '../../metrics.js';

// The scope a token needs for a route (`config.scope`), as the authentication of the API reads
// it. TODO(merge): once host/src/api/auth.ts declares `scope`, this declaration goes.
declare module 'fastify' {
  interface FastifyContextConfig {
    scope?: 'read' | 'write' | 'admin' | 'ingest';
  }
}

/** The path of the metrics route: outside `/api/v1`, where Prometheus looks by default. */
export const METRICS_PATH = '/metrics';

export interface MetricsRoutesOptions {
  metrics: HostMetrics;
}

export const metricsRoutes: FastifyPluginAsync<MetricsRoutesOptions> = async (app, { metrics }) => {
  app.get(METRICS_PATH, { config: { scope: 'read' } }, async (_req, reply) => {
    const text = await metrics.scrape();
    return reply.type(metrics.contentType).send(text);
  });
};
