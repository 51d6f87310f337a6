import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Consumers, Streams, type EndpointRecord, type PluginRecord } from '@modelwatch/protocol';
import { logNotifier, startAlertEvaluator } from '../host/src/alerts/evaluator.js';
import { AlertRuleStore, openAlertBuckets } from '../host/src/alerts/store.js';
import { createLogger } from '../host/src/logger.js';
import { openBuckets } from '../host/src/nats/topology.js';
import { WatchedKv } from '../host/src/store/watched-kv.js';
import { consumerInfo, startTestTopology, type TestTopology } from './helpers/nats.js';

// The alert evaluator runs with the controller's lease, and a lease can be lost while the
// evaluator starts: a stop during its start must leave nothing started (no consumer reading
// outputs, no keep-alive or check left running), as a stop after it does.
describe('alert evaluator: start and stop', () => {
  let nats: TestTopology;
  let endpoints: WatchedKv<EndpointRecord>;
  let plugins: WatchedKv<PluginRecord>;
  let rules: AlertRuleStore;
  let buckets: Awaited<ReturnType<typeof openAlertBuckets>>;
  const logger = createLogger('silent');

  beforeAll(async () => {
    nats = await startTestTopology();
    const kv = await openBuckets(nats.nc);
    endpoints = new WatchedKv<EndpointRecord>(kv.endpoints);
    plugins = new WatchedKv<PluginRecord>(kv.plugins);
    await Promise.all([endpoints.start(), plugins.start()]);
    buckets = await openAlertBuckets(nats.nc);
    rules = new AlertRuleStore(buckets.rules);
    // a rule over outputs: an evaluator that runs reads MW_OUTPUTS through its durable consumer
    await rules.put({ name: 'drift', results: { name: 'general_drift' }, when: { status: 'detected' } });
  });

  afterAll(async () => {
    endpoints?.stop();
    plugins?.stop();
    await nats?.[Symbol.asyncDispose]();
  });

  const evaluator = () => startAlertEvaluator({ js: nats.js, buckets, rules, notifier: logNotifier(logger), endpoints, plugins, logger });

  // what the evaluator keeps running is counted: its intervals (the keep-alive of the outputs it
  // works on, its watches' heartbeat checks) are fake, so vi.getTimerCount() sees each one live
  afterEach(() => {
    vi.useRealTimers();
  });

  const consumer = () => consumerInfo(nats.jsm, Streams.outputs, Consumers.alerts);

  it('a stop while it starts leaves nothing started; a stop after it starts ends what it started', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const first = evaluator();
    const starting = first.start();
    // the lease lost while the start runs (the start has sent its first request and waits)
    await first.stop();
    await starting;
    expect(vi.getTimerCount()).toBe(0);
    expect(await consumer()).toBeUndefined();

    // the same, stopped once started: the consumer was made (durable: it stays for the next
    // evaluator) and the keep-alive runs, and the stop ends it
    const second = evaluator();
    await second.start();
    expect(vi.getTimerCount()).toBeGreaterThan(0);
    expect(await consumer()).toBeDefined();
    await second.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
