import { readFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { ModelwatchClient } from '../../client/client.js';
import type { GlobalArgs } from '../args.js';
import { iso, printJson, printTable } from '../format.js';

/** `modelwatch batch send|list`: historical predictions, analysed in their own windows. */
export const batchCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'batch <command>',
  describe: 'analyse a file of past predictions (batch inference) in its own windows',
  builder: (y) =>
    y
      .command<GlobalArgs & { endpoint: string; file: string; id?: string }>(
        'send <file>',
        'send a batch: a JSON file (array of events, or a columnar batch) or JSON Lines; its windows are analysed once it is in',
        (b) =>
          b
            .positional('file', { type: 'string', demandOption: true })
            .option('endpoint', { type: 'string', demandOption: true })
            .option('id', { type: 'string', describe: 'batch id (letters, digits, _ and -; default: generated); a batch id is used once' })
            .example('$0 batch send --endpoint churn --id 2026-10 predictions-october.jsonl', ''),
        async (args) => {
          const text = await readFile(args.file, 'utf8');
          const client = new ModelwatchClient({ url: args.host });
          const jsonl = /\.(jsonl|ndjson)$/i.test(args.file);
          const r = await client.sendBatch(args.endpoint, jsonl ? text : JSON.parse(text), { ...(args.id ? { id: args.id } : {}), ndjson: jsonl });
          if (args.json) return printJson(r);
          process.stdout.write(`batch ${r.batchId}: accepted ${r.accepted} event(s)${r.rejected.length ? `, rejected ${r.rejected.length}:` : ''}\n`);
          for (const x of r.rejected.slice(0, 20)) process.stdout.write(`  #${x.index}: ${x.error}\n`);
          process.stdout.write(
            `results: modelwatch results --endpoint ${args.endpoint} --batch ${r.batchId} (API: /api/v1/results?endpoint=${args.endpoint}&batch=${r.batchId})\n`,
          );
          if (r.rejected.length) process.exitCode = 2;
        },
      )
      .command<GlobalArgs & { endpoint: string }>(
        'list <endpoint>',
        "list an endpoint's batches",
        (b) => b.positional('endpoint', { type: 'string', demandOption: true }),
        async (args) => {
          const batches = await new ModelwatchClient({ url: args.host }).listBatches(args.endpoint);
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
