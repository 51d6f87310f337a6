import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { CommandModule, Options } from 'yargs';
import { BodyLimits, DRIFT_STATUS_NAMES, type DriftStatusName } from '../../api/contract.js';
import type { ModelwatchClient } from '../../client/client.js';
import { clientOf } from '../connect.js';
import { checkReference, parseReference } from '../../domain/reference.js';
import { parseTagAssignments } from '../../domain/selector.js';
import { isModelwatchError, ModelwatchError } from '../../errors.js';
import type { GlobalArgs } from '../args.js';
import { fmtValue, iso, printJson, printTable } from '../format.js';
import { uploadBar } from '../progress.js';
import { readEndpointFile } from '../endpoint-file.js';

interface CreateArgs extends GlobalArgs {
  name?: string;
  from?: string;
  features?: string;
  labels?: string;
  reference?: string;
  modelName?: string;
  modelVersion?: string;
  tag?: string[];
}

interface UpdateArgs extends GlobalArgs {
  name: string;
  modelName?: string;
  modelVersion?: string;
  tag?: string[];
  removeTag?: string[];
}

interface ListArgs extends GlobalArgs {
  name?: string;
  selector?: string;
  status?: DriftStatusName;
}

interface SetReferenceArgs extends GlobalArgs {
  name: string;
  reference?: string;
  from?: string;
  to?: string;
  last?: string;
}

const tagsText = (tags: Record<string, string> | undefined) =>
  Object.entries(tags ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** Ask on the terminal; false when there is none to ask on. */
async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

const list = (s: string | undefined) =>
  s === undefined
    ? undefined
    : s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean);

/** The flags that name a new endpoint's columns: `endpoint create`'s, and `batch send --create`'s (the same meaning and help). */
export const COLUMN_OPTIONS = {
  features: {
    type: 'string',
    describe: 'feature names in input order, comma-separated (default: the reference columns, or f0..fn from the first event)',
  },
  labels: { type: 'string', describe: 'output (prediction) names, comma-separated (default p0..pn)' },
} as const satisfies Record<string, Options>;

/** The column names of `--features` and `--labels`, as `createEndpoint` takes them (only those given). */
export function columnNames(a: { features?: string | undefined; labels?: string | undefined }): { featureNames?: string[]; labelNames?: string[] } {
  const features = list(a.features);
  const labels = list(a.labels);
  return { ...(features && { featureNames: features }), ...(labels && { labelNames: labels }) };
}

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

/**
 * A reference file read and checked as the host will check it, for an endpoint of these names:
 * its size, its rows, a column for each feature. Checked before an endpoint is created for it, so
 * a bad file changes nothing. The feature limit is the host's own (`MODELWATCH_MAX_FEATURES`).
 */
export async function readCheckedReference(
  path: string,
  endpoint: { featureNames?: readonly string[]; labelNames?: readonly string[] },
): Promise<{ data: string; format: 'csv' | 'jsonl' | 'json' }> {
  const ref = await readReference(path);
  const bytes = Buffer.byteLength(ref.data);
  if (bytes > BodyLimits.reference) {
    throw new ModelwatchError('INVALID_REFERENCE', `${path}: ${bytes} bytes, over the host's limit of ${BodyLimits.reference} bytes for a reference`);
  }
  try {
    checkReference(parseReference(ref.data, ref.format), { featureNames: endpoint.featureNames ?? [], labelNames: endpoint.labelNames ?? [] }, Infinity);
  } catch (err) {
    if (isModelwatchError(err)) throw new ModelwatchError(err.code, `${path}: ${err.message}`, { cause: err });
    throw err;
  }
  return ref;
}

/** Upload a reference, with a progress bar on a terminal. */
async function uploadReference(client: ModelwatchClient, name: string, ref: { data: string; format: 'csv' | 'jsonl' | 'json' }, json: boolean) {
  const upload = uploadBar(`reference of ${name}`, { json });
  return await client.setReference(name, ref.data, ref.format, { onUpload: upload.onUpload }).finally(() => upload.stop());
}

/** Endpoints sent per request by `endpoint create --from` (under the route's limit of `BULK_ENDPOINTS_MAX`). */
const BULK_CHUNK = 5000;

/**
 * `endpoint create --from FILE`: every endpoint of the file, in requests of {@link BULK_CHUNK};
 * an item that fails (unreadable, refused by the host) is reported with its line and the others
 * are created. Exit code 1 when any failed.
 */
async function createFromFile(client: ModelwatchClient, path: string, json: boolean): Promise<void> {
  const items = await readEndpointFile(path);
  const outcomes: Array<{ where: string; name?: string; status: string; error?: { code: string; message: string } }> = [];
  const good = items.flatMap((it) => ('body' in it ? [it] : []));
  for (const it of items) if ('error' in it) outcomes.push({ where: it.where, status: 'failed', error: { code: 'INVALID_ARGUMENT', message: it.error } });
  const t0 = performance.now();
  for (let i = 0; i < good.length; i += BULK_CHUNK) {
    const part = good.slice(i, i + BULK_CHUNK);
    const reply = await client.createEndpoints(part.map((p) => p.body));
    for (const o of reply.items) {
      outcomes.push({ where: part[o.index]!.where, ...(o.name !== undefined && { name: o.name }), status: o.status, ...(o.error && { error: o.error }) });
    }
  }
  const secs = (performance.now() - t0) / 1000;
  const count = (s: string) => outcomes.filter((o) => o.status === s).length;
  const failed = outcomes.filter((o) => o.status === 'failed');
  if (failed.length) process.exitCode = 1;
  if (json) return printJson({ created: count('created'), existing: count('exists'), failed: failed.length, items: outcomes });
  for (const f of failed) process.stderr.write(`${path} ${f.where}${f.name ? ` (${f.name})` : ''}: ${f.error!.code}: ${f.error!.message}\n`);
  process.stdout.write(
    `${count('created')} endpoints created, ${count('exists')} existed already, ${failed.length} failed (${items.length} in ${path}, ${secs.toFixed(1)} s)\n`,
  );
}

/** `modelwatch endpoint create|update|delete|list|get|show|set-reference|monitoring`. */
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
            .option('name', { type: 'string', describe: 'endpoint name (letters, digits, _ and -)' })
            .option('from', {
              type: 'string',
              describe:
                'create many endpoints from a file: .jsonl (one endpoint object a line), .json (an array) or .csv (columns name, features, labels, model_name, model_version, tags, monitoring)',
            })
            .check((a) => {
              if ((a.name === undefined) === (a.from === undefined)) throw new Error('give --name NAME (one endpoint) or --from FILE (many)');
              const single = ['features', 'labels', 'reference', 'model-name', 'model-version', 'tag'].filter((k) => a[k] !== undefined);
              if (a.from !== undefined && single.length) throw new Error(`--from takes each endpoint's fields from the file: drop --${single.join(', --')}`);
              return true;
            })
            .options(COLUMN_OPTIONS)
            .option('reference', {
              type: 'string',
              describe: 'training data: CSV with a header, JSON Lines or a JSON array; the host computes reference statistics',
            })
            .option('model-name', { type: 'string', describe: 'the model served behind the endpoint' })
            .option('model-version', { type: 'string', describe: "the model's version" })
            .option('tag', { type: 'string', array: true, describe: 'a tag key=value (repeat the flag for more), as selectors pick endpoints by' })
            .example('$0 endpoint create --name churn --reference train.csv --labels churned', '')
            .example('$0 endpoint create --name fraud-eu --model-name fraud --model-version 3 --tag team=fraud --tag env=prod', '')
            .example('$0 endpoint create --from endpoints.jsonl', 'many at once (JSON Lines, a JSON array or CSV)'),
        async (args) => {
          const client = clientOf(args);
          if (args.from !== undefined) return await createFromFile(client, args.from, args.json);
          const name = args.name!;
          const columns = columnNames(args);
          const ref = args.reference ? await readCheckedReference(args.reference, columns) : undefined;
          let ep = await client.createEndpoint({
            name,
            ...columns,
            ...(args.modelName !== undefined && { modelName: args.modelName }),
            ...(args.modelVersion !== undefined && { modelVersion: args.modelVersion }),
            ...(args.tag && { tags: parseTagAssignments(args.tag) }),
          });
          if (ref) ep = await uploadReference(client, name, ref, args.json);
          if (args.json) return printJson(ep);
          process.stdout.write(`endpoint ${ep.name} (id ${ep.id}): ${ep.featureNames.length} features${ep.hasReference ? ', reference statistics set' : ''}\n`);
        },
      )
      .command<SetReferenceArgs>(
        'set-reference <name>',
        "replace an endpoint's reference data: from a file, or from the endpoint's own traffic (a past range, or a trailing window)",
        (b) =>
          b
            .positional('name', { type: 'string', demandOption: true })
            .option('reference', { type: 'string', describe: 'training data: CSV with a header, JSON Lines or a JSON array' })
            .option('from', { type: 'string', describe: "with --to: the endpoint's rows with event times from T (ISO or ms) are the reference" })
            .option('to', { type: 'string', describe: 'the end of the range (excluded)' })
            .option('last', { type: 'string', describe: "the endpoint's rows of the last DURATION (1h, 30m) are the reference" })
            .check((a) => {
              const ways = [a.reference !== undefined, a.from !== undefined || a.to !== undefined, a.last !== undefined].filter(Boolean).length;
              if (ways !== 1) throw new Error('give one of --reference FILE, --from T --to T, or --last DURATION');
              if ((a.from === undefined) !== (a.to === undefined)) throw new Error('--from and --to go together');
              return true;
            })
            .example('$0 endpoint set-reference churn --from 2026-11-20T00:00:00Z --to 2026-11-21T00:00:00Z', 'a day of production traffic')
            .example('$0 endpoint set-reference churn --last 6h', 'the last six hours'),
        async (args) => {
          const client = clientOf(args);
          if (args.reference !== undefined) {
            const ref = await readReference(args.reference);
            const ep = await uploadReference(client, args.name, ref, args.json);
            if (args.json) return printJson(ep);
            process.stdout.write(`reference of ${ep.name} set from ${ep.referenceRows} rows\n`);
            return;
          }
          const ep = await client.setReferenceFromTraffic(args.name, args.last !== undefined ? { last: args.last } : { from: args.from!, to: args.to! });
          if (args.json) return printJson(ep);
          process.stdout.write(`reference of ${ep.name} set from ${ep.referenceRows} rows of its traffic from ${iso(ep.from)} to ${iso(ep.to)}\n`);
        },
      )
      .command<UpdateArgs>(
        'update <name>',
        "change an endpoint's model name, model version or tags",
        (b) =>
          b
            .positional('name', { type: 'string', demandOption: true })
            .option('model-name', { type: 'string', describe: 'the model served behind the endpoint ("" clears it)' })
            .option('model-version', { type: 'string', describe: 'its version ("" clears it)' })
            .option('tag', { type: 'string', array: true, describe: 'a tag key=value to add or replace (repeat for more)' })
            .option('remove-tag', { type: 'string', array: true, describe: 'a tag key to remove (repeat for more)' })
            .check((a) => {
              const { modelName, modelVersion, tag, removeTag } = a as Partial<UpdateArgs>;
              if (modelName === undefined && modelVersion === undefined && !tag?.length && !removeTag?.length) {
                throw new Error('nothing to change: give --model-name, --model-version, --tag or --remove-tag');
              }
              return true;
            })
            .example('$0 endpoint update fraud-eu --model-version 4 --tag env=staging --remove-tag canary', ''),
        async (args) => {
          const ep = await clientOf(args).updateEndpoint(args.name, {
            ...(args.modelName !== undefined && { modelName: args.modelName === '' ? null : args.modelName }),
            ...(args.modelVersion !== undefined && { modelVersion: args.modelVersion === '' ? null : args.modelVersion }),
            ...(args.tag?.length && { tags: parseTagAssignments(args.tag) }),
            ...(args.removeTag?.length && { removeTags: args.removeTag }),
          });
          if (args.json) return printJson(ep);
          process.stdout.write(
            `endpoint ${ep.name}: model ${ep.modelName ?? '-'} version ${ep.modelVersion ?? '-'}, tags ${tagsText(ep.tags) || '-'}, updated ${iso(ep.updatedAt)}\n`,
          );
        },
      )
      .command<GlobalArgs & { name: string; purge?: boolean; yes?: boolean }>(
        'delete <name>',
        'delete an endpoint (its record and reference); its stored results, rows and events stay unless --purge',
        (b) =>
          b
            .positional('name', { type: 'string', demandOption: true })
            .option('purge', {
              type: 'boolean',
              describe:
                "also remove what is stored of it: results and serving metrics in the writer's store, its events, rows, outputs, dead letters and labels, controller progress and batches (not points already in the TSDB)",
            })
            .option('yes', { type: 'boolean', describe: 'do not ask for confirmation of --purge' }),
        async (args) => {
          if (args.purge && !args.yes) {
            const ok = await confirm(
              `delete endpoint ${args.name} and remove its results, serving metrics, events, rows, outputs, dead letters, labels and batches? (points in the TSDB stay)`,
            );
            if (!ok)
              throw new ModelwatchError(
                'INVALID_ARGUMENT',
                `not deleted: --purge removes the stored data of ${args.name}; confirm on a terminal or pass --yes`,
              );
          }
          const r = await clientOf(args).deleteEndpoint(args.name, { purge: Boolean(args.purge) });
          if (args.json) return printJson(r);
          const lines = [`deleted endpoint ${r.endpoint} (id ${r.endpointId}): its record${r.reference ? ' and reference rows' : ''}`];
          if (r.purged) {
            const p = r.purged;
            lines.push(
              `removed ${p.results.windows} result windows, ${p.results.latest} latest values, ${p.results.servingIntervals} serving intervals${p.results.profiles === undefined ? '' : `, ${p.results.profiles} profiles, ${p.results.rollups ?? 0} results roll-ups`} from the writer's store`,
              `removed messages: ${Object.entries(p.messages)
                .map(([k, v]) => `${k} ${v}`)
                .join(', ')}`,
              `removed ${p.controllerKeys} controller progress keys, ${p.batches} batches`,
            );
          }
          lines.push(`kept: ${r.kept.join('; ')}`);
          process.stdout.write(`${lines.join('\n')}\n`);
        },
      )
      .command<ListArgs>(
        'list',
        'list endpoints, filtered by a name glob, a tag selector and the drift status',
        (b) =>
          b
            .option('name', { type: 'string', describe: 'a glob on the name: fraud-*' })
            .option('selector', { type: 'string', describe: "a tag selector: 'team=fraud,env!=dev,tier in (gold,silver),!legacy'" })
            .option('status', {
              type: 'string',
              describe: `the drift status of the last 24 hours: ${Object.keys(DRIFT_STATUS_NAMES).join(', ')} (none: no result)`,
            })
            .example("$0 endpoint list --name 'fraud-*' --selector 'env in (prod,staging)' --status detected", ''),
        async (args) => {
          const eps = await clientOf(args).listEndpoints({
            ...(args.name !== undefined && { name: args.name }),
            ...(args.selector !== undefined && { selector: args.selector }),
            ...(args.status !== undefined && { status: args.status }),
          });
          if (args.json) return printJson(eps);
          printTable(
            [
              'name',
              'model',
              'tags',
              'features',
              'reference',
              'monitoring',
              'requests',
              'errors',
              'avg latency',
              'last request',
              'drift',
              'late rows',
              'dead letters',
            ],
            eps.map((e) => {
              const s = e.stats;
              return [
                e.name,
                e.modelName ? `${e.modelName}${e.modelVersion ? `:${e.modelVersion}` : ''}` : '-',
                clip(tagsText(e.tags), 30) || '-',
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
          const ep = await clientOf(args).getEndpoint(args.name);
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
      .command<GlobalArgs & { name: string }>(
        'show <name>',
        'one endpoint: its fields, the latest result of each app, and its serving totals',
        (b) => b.positional('name', { type: 'string', demandOption: true }),
        async (args) => {
          const client = clientOf(args);
          const { featureStats: _stats, ...ep } = await client.getEndpoint(args.name);
          const latest = await client.latest(args.name);
          const apps = [...new Set(latest.map((r) => r.app))].sort();
          const s = ep.stats;
          if (args.json) return printJson({ ...ep, latest });
          process.stdout.write(
            [
              `endpoint ${ep.name} (id ${ep.id}), monitoring ${ep.monitoring ? 'on' : 'off'}`,
              `model:           ${ep.modelName ?? '-'}${ep.modelVersion ? ` version ${ep.modelVersion}` : ''}`,
              `tags:            ${tagsText(ep.tags) || '-'}`,
              `created:         ${iso(ep.createdAt)}`,
              `updated:         ${iso(ep.updatedAt)}`,
              `features:        ${ep.featureNames.join(', ') || '(none yet)'}`,
              `outputs:         ${ep.labelNames.join(', ') || '(none yet)'}`,
              `reference:       ${ep.referenceRowCount !== undefined ? `${ep.referenceRowCount} rows, set ${iso(ep.referenceRevision!)}` : 'none'}`,
              `requests:        ${s ? `${s.requests} (errors ${s.errors}), ${s.predictions} predictions, avg latency ${s.latencyAvg !== null ? micros(s.latencyAvg) : '-'}` : '-'}`,
              `last request:    ${s?.lastRequest != null ? iso(s.lastRequest) : '-'}`,
              `drift status:    ${s ? driftName(s.driftStatus) : '-'}`,
              apps.length ? 'latest results:' : 'latest results:  (none yet)',
              '',
            ].join('\n'),
          );
          if (apps.length) {
            printTable(
              ['app', 'version', 'result', 'window start', 'status', 'value'],
              latest
                .sort((a, b) => a.app.localeCompare(b.app) || a.name.localeCompare(b.name))
                .map((r) => [r.app, r.version, r.name, iso(r.windowStart), STATUS_NAMES[String(r.status)] ?? String(r.status), fmtValue(r.value)]),
            );
          }
        },
      )
      .command<GlobalArgs & { name: string; on: boolean }>(
        'monitoring <name>',
        'turn monitoring of one endpoint on or off',
        (b) => b.positional('name', { type: 'string', demandOption: true }).option('on', { type: 'boolean', demandOption: true, describe: '--on or --no-on' }),
        async (args) => {
          const ep = await clientOf(args).setEndpointMonitoring(args.name, args.on);
          if (args.json) return printJson(ep);
          process.stdout.write(`monitoring of ${ep.name}: ${ep.monitoring ? 'on' : 'off'}\n`);
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};
