import { readFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { clientOf } from '../connect.js';
import type { GlobalArgs } from '../args.js';
import { isModelwatchError, ModelwatchError } from '../../errors.js';
import { printJson } from '../format.js';

/** `modelwatch events send`: send a file of inference events over HTTP. */
export const eventsCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'events <command>',
  describe: 'send inference events',
  builder: (y) =>
    y
      .command<GlobalArgs & { endpoint: string; file: string }>(
        'send <file>',
        'send events from a JSON file (one event or an array) or a JSON Lines file (one event a line)',
        (b) =>
          b
            .positional('file', { type: 'string', demandOption: true })
            .option('endpoint', { type: 'string', demandOption: true })
            .example('$0 events send --endpoint churn events.jsonl', ''),
        async (args) => {
          const text = await readFile(args.file, 'utf8');
          const client = clientOf(args);
          const jsonl = /\.(jsonl|ndjson)$/i.test(args.file);
          const events = jsonl ? undefined : parseJsonFile(args.file, text);
          let r;
          try {
            r = events === undefined ? await client.sendNdjson(args.endpoint, text) : await client.sendEvents(args.endpoint, events);
          } catch (err) {
            if (!isModelwatchError(err) || err.code !== 'INVALID_EVENT') throw err;
            // every event refused: exit 2 as when some were
            process.stderr.write(`error [${err.code}]: ${err.message}\n`);
            process.exitCode = 2;
            return;
          }
          // events refused: exit 2, with --json too (a script reads the status, not the list)
          if (r.rejected.length) process.exitCode = 2;
          if (args.json) return printJson(r);
          process.stdout.write(`accepted ${r.accepted} event(s)${r.rejected.length ? `, rejected ${r.rejected.length}:` : ''}\n`);
          for (const x of r.rejected.slice(0, 20)) process.stdout.write(`  #${x.index}: ${x.error}\n`);
          if (r.wrongType) {
            const cols = Object.entries(r.wrongType).map(([c, n]) => `${c}: ${n}`);
            process.stdout.write(`values of the wrong type for the reference, taken as missing: ${cols.join(', ')}\n`);
          }
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};

/** A .json file's events; one that is not one JSON document says so, with its name (and that JSON Lines are .jsonl). */
function parseJsonFile(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const hint = text.trim().includes('\n') ? '; one event a line is JSON Lines: name the file .jsonl or .ndjson' : '';
    throw new ModelwatchError('INVALID_ARGUMENT', `${file}: not JSON (${(err as Error).message})${hint}`);
  }
}
