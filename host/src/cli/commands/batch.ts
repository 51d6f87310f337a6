import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { CommandModule } from 'yargs';
import type { ModelwatchClient } from '../../client/client.js';
import { EndpointRoutes, routePath } from '../../api/contract.js';
import { clientOf } from '../connect.js';
import { parseDuration } from '../../config/duration.js';
import { InvalidArgumentError, isModelwatchError } from '../../errors.js';
import type { GlobalArgs } from '../args.js';
import { FAIL_ON, GateExit, junitXml, summarize, summaryText, waitForBatch, type FailOn } from '../batch-gate.js';
import { iso, printJson, printTable } from '../format.js';
import { progressBar, uploadBar } from '../progress.js';
import { COLUMN_OPTIONS, columnNames, readCheckedReference } from './endpoint.js';

/** The column names of a new endpoint (`--features`, `--labels`). */
type CreateColumns = ReturnType<typeof columnNames>;

interface SendArgs extends GlobalArgs {
  endpoint: string;
  file: string;
  id?: string;
  wait: boolean;
  timeout: string;
  failOn?: string;
  junit?: string;
  create: boolean;
  reference?: string;
  features?: string;
  labels?: string;
}

/** The flags that go together, checked before anything is read or sent: an invalid combination is a usage error (exit 3). */
function checkSendArgs(a: SendArgs): { failOn: FailOn | null; timeoutMs: number } {
  const usage = (message: string) => new InvalidArgumentError(message);
  if (a.failOn !== undefined && !(a.failOn in FAIL_ON)) throw usage(`--fail-on ${a.failOn}: use ${Object.keys(FAIL_ON).join(' or ')}`);
  if (a.failOn !== undefined && !a.wait) throw usage('--fail-on needs --wait');
  if (a.junit !== undefined && !a.wait) throw usage('--junit needs --wait');
  if (a.create && !a.reference) throw usage("--create needs --reference FILE: the new endpoint's training data");
  if (a.reference && !a.create) throw usage('--reference goes with --create (for an existing endpoint: endpoint set-reference)');
  for (const flag of ['features', 'labels'] as const)
    if (a[flag] !== undefined && !a.create) throw usage(`--${flag} goes with --create: it names the columns of a new endpoint`);
  let timeoutMs: number;
  try {
    timeoutMs = parseDuration(a.timeout, '--timeout', 'INVALID_ARGUMENT');
  } catch (err) {
    throw usage((err as Error).message);
  }
  return { failOn: (a.failOn as FailOn | undefined) ?? null, timeoutMs };
}

/**
 * MLRun's get-or-create: the endpoint as it is, or a new one from the reference file, with the
 * column names given (`--features`, `--labels`; as `endpoint create`: the features default to the
 * reference's columns other than the labels).
 */
async function getOrCreate(client: ModelwatchClient, name: string, reference: string, columns: CreateColumns, json: boolean): Promise<void> {
  try {
    await client.getEndpoint(name);
    return;
  } catch (err) {
    if (!isModelwatchError(err) || err.code !== 'NOT_FOUND') throw err;
  }
  const ref = await readCheckedReference(reference, columns);
  await client.createEndpoint({ name, ...columns });
  const upload = uploadBar(`reference ${basename(reference)}`, { json });
  const ep = await client.setReference(name, ref.data, ref.format, { onUpload: upload.onUpload }).finally(() => upload.stop());
  if (!json) process.stdout.write(`endpoint ${ep.name} created: ${ep.featureNames.length} features, reference statistics from ${ep.referenceRows} rows\n`);
}

/** `modelwatch batch send|list`: historical predictions, analysed in their own windows. */
export const batchCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'batch <command>',
  describe: 'analyse a file of past predictions (batch inference) in its own windows',
  builder: (y) =>
    y
      .command<SendArgs>(
        'send <file>',
        'send a batch: a JSON file (array of events, or a columnar batch) or JSON Lines; its windows are analysed once it is in',
        (b) =>
          b
            .positional('file', { type: 'string', demandOption: true })
            .option('endpoint', { type: 'string', demandOption: true })
            .option('id', { type: 'string', describe: 'batch id (letters, digits, _ and -; default: generated); a batch id is used once' })
            .option('wait', {
              type: 'boolean',
              default: false,
              describe: 'wait until every window is analysed, print the summary; exit 0 pass, 1 failed (--fail-on), 2 incomplete',
            })
            .option('timeout', { type: 'string', default: '30m', describe: 'with --wait: give up after this long (exit 2)' })
            .option('fail-on', { type: 'string', describe: 'with --wait: exit 1 when a result reaches this status: potential or detected' })
            .option('junit', { type: 'string', describe: 'with --wait: write a JUnit XML report (a test case per app result) to this file' })
            .option('create', { type: 'boolean', default: false, describe: 'create the endpoint if it does not exist (with --reference)' })
            .option('reference', { type: 'string', describe: 'with --create: training data for a new endpoint (CSV, JSON Lines or JSON)' })
            .options(COLUMN_OPTIONS)
            .fail((msg, err) => {
              // a CI gate: a usage error (yargs' own, or an invalid argument) is 3; failing to read the
              // file or to reach the host is 2, never a pass
              if (!err) process.stderr.write(`${msg}\n(see modelwatch batch send --help)\n`);
              else process.stderr.write(`error${isModelwatchError(err) ? ` [${err.code}]` : ''}: ${err.message}\n`);
              const usage = !err || (isModelwatchError(err) && (err.code === 'INVALID_ARGUMENT' || err.code === 'INVALID_OPTIONS'));
              process.exit(usage ? GateExit.usage : GateExit.incomplete);
            })
            .example('$0 batch send --endpoint churn --id 2026-10 predictions-october.jsonl', '')
            .example('$0 batch send --endpoint churn --wait --fail-on detected --junit report.xml predictions.jsonl', 'a CI gate')
            .example('$0 batch send --endpoint churn --create --reference train.csv --labels churned predictions.jsonl', 'create the endpoint if needed'),
        async (args) => {
          const { failOn, timeoutMs } = checkSendArgs(args);
          const text = await readFile(args.file, 'utf8');
          const client = clientOf(args);
          if (args.create) await getOrCreate(client, args.endpoint, args.reference!, columnNames(args), args.json);
          const jsonl = /\.(jsonl|ndjson)$/i.test(args.file);
          const upload = uploadBar(`sending ${basename(args.file)}`, { json: args.json });
          const r = await client
            .sendBatch(args.endpoint, jsonl ? text : JSON.parse(text), { ...(args.id ? { id: args.id } : {}), ndjson: jsonl, onUpload: upload.onUpload })
            .finally(() => upload.stop());
          if (!args.json) {
            process.stdout.write(`batch ${r.batchId}: accepted ${r.accepted} event(s)${r.rejected.length ? `, rejected ${r.rejected.length}:` : ''}\n`);
            for (const x of r.rejected.slice(0, 20)) process.stdout.write(`  #${x.index}: ${x.error}\n`);
            process.stdout.write(
              `results: modelwatch results --endpoint ${args.endpoint} --batch ${r.batchId} (API: /api/v1/results?endpoint=${args.endpoint}&batch=${r.batchId})\n`,
            );
            process.stdout.write(
              `report: modelwatch report --endpoint ${args.endpoint} --batch ${r.batchId} -o report-${r.batchId}.html (API: ${routePath(EndpointRoutes.report, { name: args.endpoint })}?batch=${r.batchId})\n`,
            );
          }
          if (!args.wait) {
            if (args.json) printJson(r);
            if (r.rejected.length) process.exitCode = 2;
            return;
          }
          const bar = progressBar(`batch ${r.batchId}`, 'windows', { json: args.json });
          const outcome =
            r.accepted > 0
              ? await waitForBatch(client, args.endpoint, r.batchId, {
                  timeoutMs,
                  onProgress: (n, total) => bar.update(n, total),
                })
              : { batch: undefined, windows: [], incomplete: 'no event of the file was accepted' };
          bar.stop();
          const summary = summarize(args.endpoint, r.batchId, outcome, failOn);
          if (args.junit) await writeFile(args.junit, junitXml(summary));
          if (args.json) printJson({ ...r, summary });
          else process.stdout.write(summaryText(summary));
          process.exitCode = summary.exitCode;
        },
      )
      .command<GlobalArgs & { endpoint: string }>(
        'list <endpoint>',
        "list an endpoint's batches",
        (b) => b.positional('endpoint', { type: 'string', demandOption: true }),
        async (args) => {
          const batches = await clientOf(args).listBatches(args.endpoint);
          if (args.json) return printJson(batches);
          printTable(
            ['batch', 'status', 'windows', 'ingested', 'dispatched'],
            batches.map((b) => [b.batchId, b.status, b.windows ?? '-', iso(b.createdAt), b.dispatchedAt ? iso(b.dispatchedAt) : '-']),
          );
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};
