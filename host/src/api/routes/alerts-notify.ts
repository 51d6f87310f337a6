/** Alert channels (admin writes, redacted reads), channel tests, the delivery history, a test notification. */
import type { FastifyPluginAsync } from 'fastify';
import { sampleNotification, type AlertNotifier } from '../../alerts/notify/index.js';
import { ModelwatchError } from '../../errors.js';
import type { AlertRuleStore } from '../../alerts/store.js';
import { AlertNotifyRoutes, type AlertHistoryQuery, type RuleTestResult, type TestNotificationBody } from '../contract.js';

export interface AlertNotifyRoutesDeps {
  notifier: AlertNotifier;
  /** The rules, for rule tests. */
  rules?: AlertRuleStore;
}

const admin = { scope: 'admin' as const };
const read = { scope: 'read' as const };

export const alertNotifyRoutes: FastifyPluginAsync<AlertNotifyRoutesDeps> = async (app, deps) => {
  const { notifier } = deps;

  app.get(AlertNotifyRoutes.channels, { config: read }, async () => ({ channels: notifier.listChannels() }));
  app.get<{ Params: { name: string } }>(AlertNotifyRoutes.channel, { config: read }, async (req) => notifier.getChannel(req.params.name));
  app.post(AlertNotifyRoutes.channels, { config: admin }, async (req, reply) => {
    const c = await notifier.putChannel(req.body);
    void reply.status(201);
    return c;
  });
  app.put<{ Params: { name: string } }>(AlertNotifyRoutes.channel, { config: admin }, async (req) => {
    const body = req.body as { name?: unknown } | undefined;
    if (body && typeof body === 'object' && body.name !== undefined && body.name !== req.params.name) {
      throw new ModelwatchError('INVALID_ARGUMENT', `name: the body names '${String(body.name)}', the path '${req.params.name}'`);
    }
    return notifier.putChannel({ ...(body ?? {}), name: req.params.name }, { replace: true });
  });
  app.delete<{ Params: { name: string } }>(AlertNotifyRoutes.channel, { config: admin }, async (req) => {
    await notifier.deleteChannel(req.params.name);
    return { deleted: req.params.name };
  });
  // the result of one attempt: success, or the status code or error; never the receiver's body
  app.post<{ Params: { name: string } }>(AlertNotifyRoutes.channelTest, { config: admin }, async (req) => notifier.testChannel(req.params.name));
  // a sample of the rule's notification through each channel it goes to: success or the status, never the body
  app.post<{ Params: { name: string } }>(AlertNotifyRoutes.ruleTest, { config: admin }, async (req): Promise<RuleTestResult> => {
    if (!deps.rules) throw new ModelwatchError('NOT_FOUND', 'alert rules are not served here');
    const rule = await deps.rules.require(req.params.name);
    const n = sampleNotification({ rule: rule.name, severity: rule.severity ?? 'medium', channels: rule.channels ?? [], labels: { ...rule.labels } });
    return { rule: rule.name, key: n.key, channels: await notifier.testNotification(n) };
  });
  app.get<{ Querystring: { [K in keyof AlertHistoryQuery]?: string } }>(AlertNotifyRoutes.history, { config: admin }, async (req) => {
    const { channel, key, limit } = req.query;
    const n = limit === undefined ? 100 : Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 10_000)
      throw new ModelwatchError('INVALID_ARGUMENT', `limit: expected a whole number from 1 to 10000, got '${limit}'`);
    return { attempts: await notifier.history({ ...(channel !== undefined && { channel }), ...(key !== undefined && { key }), limit: n }) };
  });
  app.post<{ Body: TestNotificationBody | undefined }>(AlertNotifyRoutes.notificationTest, { config: admin }, async (req, reply) => {
    const b = req.body ?? {};
    if (typeof b !== 'object' || Array.isArray(b)) throw new ModelwatchError('INVALID_ARGUMENT', 'the body must be a JSON object');
    if (b.key !== undefined && (typeof b.key !== 'string' || !b.key || b.key.length > 512))
      throw new ModelwatchError('INVALID_ARGUMENT', 'key: expected a string of 1 to 512 characters');
    if (b.channels !== undefined && (!Array.isArray(b.channels) || b.channels.some((c) => typeof c !== 'string')))
      throw new ModelwatchError('INVALID_ARGUMENT', 'channels: expected an array of channel names');
    const n = sampleNotification(b);
    await notifier.enqueue(n);
    void reply.status(202);
    return { key: n.key };
  });
};
