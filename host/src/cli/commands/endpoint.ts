import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { CommandModule } from 'yargs';
import { ModelwatchClient } from '../../client/client.js';
import { ModelwatchError } from '../../errors.js';
import type { GlobalArgs } from '../args.js';
import { iso, printJson, printTable } from '../format.js';
import { uploadBar } from '../progress.js';

interface CreateArgs extends GlobalArgs {
  name: string;
  features?: string;
  labels?: string;
  reference?: string;
}

const list = (s: string | undefined) =>
  s === undefined
    ? undefined
    : s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);

const STATUS_NAMES: Record<string, string> = { '-1': 'irrelevant', '0': 'no_detection', '1': 'potential_detection', '2': 'detected' };
const driftName = (s: number | null) => (s === null ? '-' : (STATUS_NAMES[String(s)] ?? String(s)));
const micros = (us: number) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${Math.round(us)} µs`);
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 3)}...` : s);

/** Format of a reference file from its extension. */
export function referenceFormat(path: string): 'csv' | 'jsonl' | 'json' {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.json') return 'json';
  throw new ModelwatchError('INVALID_REFERENCE', `${path}: use a .csv (with a header), .jsonl/.ndjson or .json file`);
}

export async function readReference(path: string): Promise<{ data: string; format: 'csv' | 'jsonl' | 'json' }> {
  const format = referenceFormat(path);
  try {
    return { data: await readFile(path, 'utf8'), format };
  } catch (err) {
    throw new ModelwatchError('INVALID_REFERENCE', `cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Upload a reference, with a progress bar on a terminal. */
async function uploadReference(client: ModelwatchClient, name: string, ref: { data: string; format: 'csv' | 'jsonl' | 'json' }, json: boolean) {
  const upload = uploadBar(`reference of ${name}`, { json });
  return await client.setReference(name, ref.data, ref.format, { onUpload: upload.onUpload }).finally(() => upload.stop());
}

/** `modelwatch endpoint create|list|get|set-reference`. */
export const endpointCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'endpoint <command>',
  describe: 'register and list model endpoints',
  builder: (y) =>
    y
      .command<CreateArgs>(
        'create',
        'register a model endpoint (creating an existing one again is not an error)',
        (b) =>
          b
            .option('name', { type: 'string', demandOption: true, describe: 'endpoint name (letters, digits, _ and -)' })
            .option('features', {
              type: 'string',
              describe: 'feature names in input order, comma-separated (default: the reference columns, or f0..fn from the first event)',
            })
            .option('labels', { type: 'string', describe: 'output (prediction) names, comma-separated (default p0..pn)' })
            .option('reference', {
              type: 'string',
              describe: 'training data: CSV with a header, JSON Lines or a JSON array; the host computes reference statistics',
            })
            .example('$0 endpoint create --name churn --reference train.csv --labels churned', ''),
        async (args) => {
          const client = new ModelwatchClient({ url: args.host });
          const ref = args.reference ? await readReference(args.reference) : undefined;
          const features = list(args.features);
          const labels = list(args.labels);
          let ep = await client.createEndpoint({ name: args.name, ...(features && { featureNames: features }), ...(labels && { labelNames: labels }) });
          if (ref) ep = await uploadReference(client, args.name, ref, args.json);
          if (args.json) return printJson(ep);
          process.stdout.write(`endpoint ${ep.name} (id ${ep.id}): ${ep.featureNames.length} features${ep.hasReference ? ', reference statistics set' : ''}\n`);
        },
      )
      .command<GlobalArgs & { name: string; reference: string }>(
        'set-reference <name>',
        "replace an endpoint's reference data",
        (b) => b.positional('name', { type: 'string', demandOption: true }).option('reference', { type: 'string', demandOption: true }),
        async (args) => {
          const ref = await readReference(args.reference);
          const ep = await uploadReference(new ModelwatchClient({ url: args.host }), args.name, ref, args.json);
          if (args.json) return printJson(ep);
          process.stdout.write(`reference of ${ep.name} set from ${ep.referenceRows} rows\n`);
        },
      )
      .command<GlobalArgs>(
        'list',
        'list endpoints',
        (b) => b,
        async (args) => {
          const eps = await new ModelwatchClient({ url: args.host }).listEndpoints();
          if (args.json) return printJson(eps);
          printTable(
            ['name', 'features', 'reference', 'monitoring', 'requests', 'errors', 'avg latency', 'last request', 'drift', 'late rows', 'dead letters'],
            eps.map((e) => {
              const s = e.stats;
              return [
                e.name,
                clip(e.featureNames.join(', '), 30),
                e.hasReference ? 'yes' : 'no',
                e.monitoring ? 'on' : 'off',
                s ? s.requests : '-',
                s ? s.errors : '-',
                s?.latencyAvg != null ? micros(s.latencyAvg) : '-',
                s?.lastRequest != null ? iso(s.lastRequest) : '-',
                s ? driftName(s.driftStatus) : '-',
                s ? s.lateRows : '-',
                s ? s.deadLetters.total : '-',
              ];
            }),
          );
        },
      )
      .command<GlobalArgs & { name: string }>(
        'get <name>',
        'show one endpoint with its reference statistics',
        (b) => b.positional('name', { type: 'string', demandOption: true }),
        async (args) => {
          const ep = await new ModelwatchClient({ url: args.host }).getEndpoint(args.name);
          if (args.json || !ep.stats) return printJson(ep);
          const s = ep.stats;
          const li = s.lastInterval;
          process.stdout.write(
            [
              `endpoint ${ep.name} (id ${ep.id}), monitoring ${ep.monitoring ? 'on' : 'off'}`,
              `features:        ${ep.featureNames.join(', ') || '(none yet)'}`,
              `outputs:         ${ep.labelNames.join(', ') || '(none yet)'}`,
              `reference:       ${Object.keys(ep.featureStats).length ? `${ep.referenceRowCount ?? '?'} rows` : 'none'}`,
              `first request:   ${s.firstRequest !== null ? iso(s.firstRequest) : '-'}`,
              `last request:    ${s.lastRequest !== null ? iso(s.lastRequest) : '-'}`,
              `requests:        ${s.requests} (errors ${s.errors}${s.dropped ? `, dropped by the tracker ${s.dropped}` : ''})`,
              `predictions:     ${s.predictions} received, ${Math.round(s.estimatedPredictions)} estimated (sampling)`,
              `avg latency:     ${s.latencyAvg !== null ? micros(s.latencyAvg) : '-'}`,
              `last interval:   ${li ? `${iso(li.start)}: ${li.requests} requests, ${li.errors} errors, latency avg ${li.latencyAvg !== null ? micros(li.latencyAvg) : '-'}, p50 ${li.latencyP50 !== null ? micros(li.latencyP50) : '-'}, p99 ${li.latencyP99 !== null ? micros(li.latencyP99) : '-'}` : '-'}`,
              `drift status:    ${driftName(s.driftStatus)} (worst result status of the last 24 hours)`,
              `late rows:       ${s.lateRows}`,
              `dead letters:    ${s.deadLetters.total}${
                s.deadLetters.total
                  ? ` (${Object.entries(s.deadLetters.byReason)
                      .map(([k, v]) => `${k} ${v}`)
                      .join(', ')}); modelwatch dlq list --endpoint ${ep.name}`
                  : ''
              }`,
              '(--json for the full record with the reference statistics)',
              '',
            ].join('\n'),
          );
        },
      )
      .command<GlobalArgs & { name: string; on: boolean }>(
        'monitoring <name>',
        'turn monitoring of one endpoint on or off',
        (b) => b.positional('name', { type: 'string', demandOption: true }).option('on', { type: 'boolean', demandOption: true, describe: '--on or --no-on' }),
        async (args) => {
          const ep = await new ModelwatchClient({ url: args.host }).setEndpointMonitoring(args.name, args.on);
          if (args.json) return printJson(ep);
          process.stdout.write(`monitoring of ${ep.name}: ${ep.monitoring ? 'on' : 'off'}\n`);
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};
