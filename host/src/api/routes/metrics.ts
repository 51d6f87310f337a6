/** `GET /metrics`: the host's operator metrics in Prometheus text format (`host/src/metrics.ts`). */
import type { FastifyPluginAsync } from 'fastify';
import type { HostMetrics } from '../../metrics.js';

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
