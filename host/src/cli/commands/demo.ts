import { mkdtemp, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CommandModule } from 'yargs';
import { resultStatusName, type ResultStatus } from '@modelwatch/sdk';
import { seededRandom } from '@modelwatch/sdk/testing';
import { ModelwatchClient } from '../../client/client.js';
import { generateToken } from '../../domain/tokens.js';
import { parseDuration } from '../../config/duration.js';
import type { GlobalArgs } from '../args.js';
import { fmtValue, iso, printTable } from '../format.js';
import { progressBar } from '../progress.js';
import { describeDefaultApp } from './monitoring.js';

interface DemoArgs extends GlobalArgs {
  'base-period': string;
  windows: number;
  'keep-data': boolean;
}

/** The built-in app the demo deploys, whose metrics its table shows. */
const DEMO_APP = 'histogram-data-drift';
const FEATURES = ['age', 'income', 'tenure', 'score'] as const;

const rng = seededRandom;

type Row = [number, number, number, number];
function row(r: ReturnType<typeof rng>, drifted: boolean): Row {
  return drifted
    ? [r.normal(68, 6), Math.exp(r.normal(11.9, 0.3)), r.normal(0.5, 0.8), r.uniform() ** 4]
    : [r.normal(40, 10), Math.exp(r.normal(10.8, 0.4)), r.normal(5, 2), r.uniform()];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `modelwatch demo`: a host in a temp folder, the built-in drift app, an endpoint with
 * reference data, normal traffic then drifted traffic, and the result of every window.
 */
export const demoCommand: CommandModule<GlobalArgs, DemoArgs> = {
  command: 'demo',
  describe: 'run the whole pipeline on this machine: normal traffic, then drifted traffic, and the drift app finding it',
  builder: (y) =>
    y
      .option('base-period', { type: 'string', default: '5s', describe: 'window length' })
      .option('windows', { type: 'number', default: 2, describe: 'windows of each kind of traffic' })
      .option('keep-data', { type: 'boolean', default: false, describe: 'keep the temp folder (results, logs)' }) as never,
  handler: async (args) => {
    const out = (s: string) => process.stdout.write(s);
    // read as the host reads it (500ms, 2s, 1m); a bad one stops here, before anything starts
    const periodMs = parseDuration(args['base-period'], '--base-period', 'INVALID_ARGUMENT');
    const dir = await mkdtemp(join(tmpdir(), 'modelwatch-demo-'));
    const logFile = join(dir, 'host.log');
    const logStream = createWriteStream(logFile);
    // the host and its logger load here, not with the CLI: every other command starts without them
    const [{ createHost }, { createLogger }] = await Promise.all([import('../../host.js'), import('../../logger.js')]);
    const logger = createLogger('info', logStream);
    out(`modelwatch demo: host in ${dir} (log: ${logFile})\n`);
    // a host of its own, with an admin token of its own
    const token = generateToken();
    const host = createHost(
      { dataDir: dir, httpPort: 0, basePeriod: args['base-period'], allowedLateness: '1s', runners: 1, adminToken: token },
      logger,
      logStream,
    );
    const started = Date.now();
    // on a terminal: the windows analysed of the total, with the time left
    const bar = progressBar('windows analysed', 'windows', { json: args.json });
    try {
      await host.start();
      out(`  host running: API ${host.apiUrl}, NATS ${host.natsUrl}, windows of ${args['base-period']}\n`);
      const client = new ModelwatchClient({ url: host.apiUrl, token });
      // as `modelwatch monitoring enable --default-app histogram-data-drift`: the host bundles its built-in app
      const { defaultApp } = await client.setMonitoring({ enabled: true, defaultApp: DEMO_APP });
      out(`  monitoring enabled; ${describeDefaultApp(defaultApp!)}\n`);

      const r = rng(42);
      const reference = [FEATURES.join(','), ...Array.from({ length: 5000 }, () => row(r, false).join(','))].join('\n');
      await client.createEndpoint({ name: 'churn-model', featureNames: [...FEATURES], labelNames: ['churn_probability'] });
      await client.setReference('churn-model', reference, 'csv');
      out('  endpoint churn-model created with 5000 reference rows (age, income, tenure, score)\n');

      // Start on a window boundary so every window holds one kind of traffic.
      const firstWindow = Math.ceil((Date.now() + 200) / periodMs) * periodMs;
      await sleep(firstWindow - Date.now());
      const phases = [
        { drifted: false, until: firstWindow + args.windows * periodMs },
        { drifted: true, until: firstWindow + 2 * args.windows * periodMs },
      ];
      let sent = 0;
      const total = 2 * args.windows;
      let polled = 0;
      const stored = async () => {
        polled = Date.now();
        const ws = await client.results({ endpoint: 'churn-model' });
        bar.update(Math.min(total, ws.filter((w) => w.windowStart >= firstWindow).length), total);
        return ws;
      };
      bar.update(0, total);
      for (const phase of phases) {
        bar.log(`  sending ${phase.drifted ? 'DRIFTED' : 'normal'} traffic for ${args.windows} window(s)...\n`);
        while (Date.now() < phase.until - 50) {
          const events = Array.from({ length: 20 }, (_, i) => {
            const x = row(r, phase.drifted);
            return {
              inputs: [x],
              outputs: [1 / (1 + Math.exp(-(x[3] * 4 - 2)))],
              requestId: `req-${sent + i}`,
              latencyMicros: Math.round(800 + r.uniform() * 400),
            };
          });
          await client.sendEvents('churn-model', events);
          sent += events.length;
          if (Date.now() - polled > 1000) await stored();
          await sleep(Math.min(100, Math.max(0, phase.until - 50 - Date.now())));
        }
        await sleep(Math.max(0, phase.until - Date.now()));
      }
      bar.log(`  sent ${sent} events; waiting for the last windows to close...\n`);
      const deadline = Date.now() + 30_000;
      let windows = await stored();
      while (windows.filter((w) => w.windowStart >= firstWindow).length < total && Date.now() < deadline) {
        await sleep(250);
        windows = await stored();
      }
      bar.stop();
      const ours = windows.filter((w) => w.windowStart >= firstWindow && w.windowStart < firstWindow + total * periodMs).reverse();
      out('\n');
      printTable(
        ['window', 'traffic', 'rows', 'general_drift', 'status', 'hellinger_mean', 'tvd_mean', 'kld_mean'],
        ours.map((w) => {
          const g = w.results.find((x) => x.name === 'general_drift');
          const m = (n: string) => fmtValue(w.metrics.find((x) => x.name === n)?.value ?? null);
          return [
            `${iso(w.windowStart).slice(11, 19)}-${iso(w.windowEnd).slice(11, 19)}`,
            w.windowStart >= phases[0]!.until ? 'drifted' : 'normal',
            w.rows,
            fmtValue(g?.value ?? null),
            w.outcome === 'ok' ? (g ? resultStatusName[g.status as ResultStatus] : '-') : w.outcome,
            m('hellinger_mean'),
            m('tvd_mean'),
            m('kld_mean'),
          ];
        }),
      );
      const normalOk = ours.filter((w) => w.windowStart < phases[0]!.until).every((w) => w.results.find((x) => x.name === 'general_drift')?.status === 0);
      const driftOk = ours.filter((w) => w.windowStart >= phases[0]!.until).every((w) => (w.results.find((x) => x.name === 'general_drift')?.status ?? 0) >= 1);
      const complete = ours.length === total;
      out(
        `\n${complete && normalOk && driftOk ? 'OK' : 'UNEXPECTED'}: ${normalOk ? 'no drift' : 'drift?!'} in normal windows, ${driftOk ? 'drift detected' : 'drift missed'} in drifted windows (${((Date.now() - started) / 1000).toFixed(1)} s)\n`,
      );
      out(`  more: modelwatch results --json, ARCHITECTURE.md; this host is stopping now.\n`);
      if (!(complete && normalOk && driftOk)) process.exitCode = 1;
    } finally {
      bar.stop();
      await host.stop();
      if (!args['keep-data']) await rm(dir, { recursive: true, force: true });
    }
  },
};
