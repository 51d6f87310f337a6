// Alert rule evaluation cost per stored result with 1,000 rules, against the writer's cost per
// result. The backlog is the writer benches' (bench/lib/outputs.mjs: 20 endpoints x 1 app, one
// result per window, a fifth empty). The 1,000 rules name endpoints `e0`..`e99` (rule i: `e<i % 100>`,
// value above a threshold, 2 of the last 3 windows), so each of the 20 endpoints is picked by 10
// rules and the other 800 rules are looked at and left.
//
//   1. rules alone: RuleSet.evaluate in memory (matching, the series' step), per stored result
//   2. the evaluator: its durable consumer on MW_OUTPUTS over the backlog, the series stored in
//      KV mw_alert_series, notifications to an in-memory notifier: stored results/s
//   3. the writer (no streaks), from the same backlog on its own nats-server: stored results/s,
//      and the ratio of the two (the evaluator keeps up when it is at least 1)
//
//   node --no-node-snapshot bench/alert-eval.mjs [--outputs N]
//
// Needs host/dist (npx tsc -b) and nats-server on PATH.
import { RuleSet, startAlertEvaluator } from '../host/dist/alerts/evaluator.js';
import { newSeries } from '../host/dist/alerts/evaluate.js';
import { compileRule } from '../host/dist/alerts/rules.js';
import { AlertRuleStore, openAlertBuckets } from '../host/dist/alerts/store.js';
import { createLogger } from '../host/dist/logger.js';
import { openBuckets } from '../host/dist/nats/topology.js';
import { WatchedKv } from '../host/dist/store/watched-kv.js';
import { benchOutputs } from './lib/outputs.mjs';
import { parseFlags } from './lib/flags.mjs';
import { publishOutputs, withNats } from './lib/setup.mjs';
import { timeWriter } from './lib/writer.mjs';

const flags = parseFlags('node --no-node-snapshot bench/alert-eval.mjs [--outputs N]', {
  outputs: { type: 'number', default: 5_000, describe: 'app outputs of the backlog (20 endpoints x 1 app, one result each, a fifth empty)' },
});
const OUTPUTS = flags.outputs;
const RULES = 1000;
const { outputs } = benchOutputs(OUTPUTS, 20);
const results = outputs.reduce((n, o) => n + o.results.length, 0);
const rules = Array.from({ length: RULES }, (_, i) => ({
  name: `rule-${i}`,
  endpoints: { names: [`e${i % 100}`] },
  results: { app: 'bench', name: 'dr*' },
  when: { above: 0.5 + (i % 50) / 100 },
  for: { last: 3, atLeast: 2 },
}));

// 1. rules alone
{
  const set = new RuleSet(rules.map((r) => compileRule({ ...r, source: 'api', createdAt: 0 })));
  const series = new Map();
  const seriesOf = (k) => {
    let s = series.get(k);
    if (!s) series.set(k, (s = newSeries()));
    return s;
  };
  for (let round = 0; round < 2; round++) {
    series.clear();
    const t = performance.now();
    let changes = 0;
    for (const o of outputs) changes += set.evaluate(o, undefined, seriesOf, () => true, Date.now()).length;
    const ms = performance.now() - t;
    if (round === 1) {
      console.log(`${OUTPUTS} outputs, ${results} results, ${RULES} rules (10 pick each endpoint), ${changes} series steps\n`);
      console.log(`rules alone (in memory)          ${((ms * 1000) / results).toFixed(2)} us per stored result`);
    }
  }
}

// 2. the evaluator
const evaluatorRate = await withNats('alerts', async ({ nc, js, jsm }) => {
  const buckets = await openBuckets(nc);
  const alertBuckets = await openAlertBuckets(nc);
  const store = new AlertRuleStore(alertBuckets.rules);
  for (const r of rules) await store.put(r);
  await publishOutputs(js, outputs);
  const endpoints = new WatchedKv(buckets.endpoints);
  const plugins = new WatchedKv(buckets.plugins);
  await Promise.all([endpoints.start(), plugins.start()]);
  let notified = 0;
  const evaluator = startAlertEvaluator({
    js,
    buckets: alertBuckets,
    rules: store,
    notifier: { enqueue: () => (notified++, Promise.resolve()) },
    endpoints,
    plugins,
    logger: createLogger('error'),
  });
  const t = performance.now();
  await evaluator.start();
  for (;;) {
    const info = await jsm.consumers.info('MW_OUTPUTS', 'alert-evaluator');
    if (info.num_pending === 0 && info.num_ack_pending === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - t) / 1000;
  await evaluator.stop();
  endpoints.stop();
  plugins.stop();
  console.log(
    `evaluator (consumer, KV series)  ${(results / seconds).toFixed(0)} results/s (${(OUTPUTS / seconds).toFixed(0)} outputs/s, ${((seconds * 1e6) / results).toFixed(0)} us per stored result, ${notified} notifications)`,
  );
  return results / seconds;
});

// 3. the writer
const writerRate = await withNats('alerts', async (env) => {
  const { seconds } = await timeWriter(env, outputs);
  console.log(
    `writer, no streaks               ${(results / seconds).toFixed(0)} results/s (${(OUTPUTS / seconds).toFixed(0)} outputs/s, ${((seconds * 1e6) / results).toFixed(0)} us per stored result)`,
  );
  return results / seconds;
});
console.log(`ratio (evaluator / writer)       ${(evaluatorRate / writerRate).toFixed(2)} (target >= 1)`);
