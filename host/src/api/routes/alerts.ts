/** Alert rules, alerts (list, acknowledge, resolve) and silences: `modelwatch alert ...`. */
import type { FastifyInstance } from 'fastify';
import type { Notifier } from '../../alerts/contract.js';
import type { AlertRuleStore, AlertStore, SilenceStore } from '../../alerts/store.js';
import { AlertRoutes, type AlertListQuery, type CreateSilenceBody } from '../contract.js';
import { AlertIdParamsSchema, AlertListQuerySchema, AlertRuleParamsSchema, AlertRuleSchema, CreateSilenceBodySchema } from '../schemas.js';

export interface AlertRoutesDeps {
  rules: AlertRuleStore;
  alerts: AlertStore;
  silences: SilenceStore;
  /** Told of acknowledgements and of alerts resolved by hand. */
  notifier: Notifier;
}

export function alertRoutes(app: FastifyInstance, deps: AlertRoutesDeps): void {
  const { rules, alerts, silences, notifier } = deps;

  app.get(AlertRoutes.rules, async () => ({ rules: await rules.list() }));

  app.get<{ Params: { name: string } }>(AlertRoutes.rule, { schema: { params: AlertRuleParamsSchema } }, async (req) => await rules.require(req.params.name));

  app.post<{ Body: unknown }>(AlertRoutes.rules, { schema: { body: AlertRuleSchema } }, async (req, reply) => {
    const { record, created } = await rules.put(req.body, req.mwToken);
    void reply.status(created ? 201 : 200);
    return record;
  });

  app.delete<{ Params: { name: string } }>(AlertRoutes.rule, { schema: { params: AlertRuleParamsSchema } }, async (req) => {
    const gone = await rules.delete(req.params.name);
    return { deleted: gone.name };
  });

  app.get<{ Querystring: AlertListQuery }>(AlertRoutes.alerts, { schema: { querystring: AlertListQuerySchema } }, async (req) => ({
    alerts: await alerts.list({ active: req.query.active === true }),
  }));

  // silences before /alerts/:id (a static segment wins anyway in Fastify; listed first for the reader)
  app.get(AlertRoutes.silences, async () => ({ silences: await silences.list() }));

  app.post<{ Body: CreateSilenceBody }>(AlertRoutes.silences, { schema: { body: CreateSilenceBodySchema } }, async (req, reply) => {
    const s = await silences.create(req.body, req.mwToken);
    void reply.status(201);
    return s;
  });

  app.delete<{ Params: { id: string } }>(AlertRoutes.silence, { schema: { params: AlertIdParamsSchema } }, async (req) => {
    const s = await silences.delete(req.params.id);
    return { deleted: s.id };
  });

  app.get<{ Params: { id: string } }>(AlertRoutes.alert, { schema: { params: AlertIdParamsSchema } }, async (req) => await alerts.require(req.params.id));

  app.post<{ Params: { id: string } }>(AlertRoutes.ack, { schema: { params: AlertIdParamsSchema } }, async (req) => {
    const now = Date.now();
    const { alert, changed } = await alerts.acknowledge(req.params.id, req.mwToken, now);
    if (changed)
      await notifier.enqueue({
        key: `${alert.id}:acknowledged:1`,
        kind: 'acknowledged',
        alert,
        channels: (await rules.get(alert.rule))?.channels ?? [],
        at: now,
      });
    return alert;
  });

  app.post<{ Params: { id: string } }>(AlertRoutes.resolve, { schema: { params: AlertIdParamsSchema } }, async (req) => {
    const now = Date.now();
    const { alert, changed } = await alerts.resolve(req.params.id, now);
    if (changed)
      await notifier.enqueue({ key: `${alert.id}:resolved:1`, kind: 'resolved', alert, channels: (await rules.get(alert.rule))?.channels ?? [], at: now });
    return alert;
  });
}
