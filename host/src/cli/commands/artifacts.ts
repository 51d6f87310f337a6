import { writeFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { parseTime } from '../../domain/time.js';
import { clientOf } from '../connect.js';
import type { GlobalArgs } from '../args.js';
import { iso, printJson, printTable } from '../format.js';

/** `modelwatch artifacts list|get`: the files apps attached to windows (`ctx.logArtifact`). */
export const artifactsCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'artifacts <command>',
  describe: 'list and download the files apps attached to windows (ctx.logArtifact)',
  builder: (y) =>
    y
      .command<GlobalArgs & { endpoint: string; app?: string; from?: string; to?: string }>(
        'list',
        "list an endpoint's artifacts, newest window first",
        (b) =>
          b
            .option('endpoint', { type: 'string', demandOption: true })
            .option('app', { type: 'string', describe: 'only this app' })
            .option('from', { type: 'string', describe: 'windows starting at or after this time (ISO 8601 or ms)' })
            .option('to', { type: 'string', describe: 'windows starting before this time (ISO 8601 or ms)' })
            .example('$0 artifacts list --endpoint churn --app histogram-data-drift', ''),
        async (args) => {
          const from = args.from === undefined ? undefined : parseTime(args.from, '--from');
          const to = args.to === undefined ? undefined : parseTime(args.to, '--to');
          const list = await clientOf(args).listArtifacts(args.endpoint, {
            ...(args.app ? { app: args.app } : {}),
            ...(from !== undefined ? { from } : {}),
            ...(to !== undefined ? { to } : {}),
          });
          if (args.json) return printJson(list);
          printTable(
            ['id', 'app', 'version', 'window', 'name', 'type', 'bytes'],
            list.map((a) => [a.id, a.app, a.version, iso(a.windowStart), a.name, a.contentType, a.size]),
          );
        },
      )
      .command<GlobalArgs & { id: string; endpoint: string; output?: string }>(
        'get <id>',
        'download an artifact (to stdout, or a file with -o)',
        (b) =>
          b
            .positional('id', { type: 'string', demandOption: true, describe: 'its id, as `artifacts list` shows it' })
            .option('endpoint', { type: 'string', demandOption: true })
            .option('output', { alias: 'o', type: 'string', describe: 'write it to this file' })
            .example('$0 artifacts get histogram-data-drift.1767225600000.drift-table.csv --endpoint churn -o drift.csv', ''),
        async (args) => {
          const a = await clientOf(args).getArtifact(args.endpoint, args.id);
          if (args.output) {
            await writeFile(args.output, a.body);
            if (args.json) return printJson({ file: args.output, bytes: a.body.byteLength, contentType: a.contentType });
            process.stderr.write(`wrote ${a.body.byteLength} bytes (${a.contentType}) to ${args.output}\n`);
            return;
          }
          await new Promise<void>((resolve, reject) => process.stdout.write(a.body, (err) => (err ? reject(err) : resolve())));
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};
