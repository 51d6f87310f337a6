import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { isModelwatchError } from '../errors.js';
import { batchCommand } from './commands/batch.js';
import { demoCommand } from './commands/demo.js';
import { dlqCommand } from './commands/dlq.js';
import { endpointCommand } from './commands/endpoint.js';
import { eventsCommand } from './commands/events.js';
import { hostCommand } from './commands/host.js';
import { monitoringCommand } from './commands/monitoring.js';
import { pluginCommand } from './commands/plugin.js';
import { resultsCommand } from './commands/results.js';

/** Options every command takes. */
export interface GlobalArgs {
  host: string;
  json: boolean;
}

/** Build the `modelwatch` CLI. The commands are thin shells over ModelwatchClient and createHost. */
export function buildCli(argv: string[]): Argv<GlobalArgs> {
  return yargs(argv)
    .scriptName('modelwatch')
    .usage('$0 <command> [options]\n\nModel monitoring with sandboxed monitoring apps on NATS JetStream.')
    .option('host', {
      type: 'string',
      default: process.env.MODELWATCH_HOST ?? 'http://127.0.0.1:7077',
      defaultDescription: 'http://127.0.0.1:7077 (env MODELWATCH_HOST)',
      describe: 'URL of the host HTTP API',
      global: true,
      // given twice (e.g. in an alias and on the line): the last one wins
      coerce: (v: string | string[]) => (Array.isArray(v) ? v[v.length - 1]! : v),
    })
    .option('json', { type: 'boolean', default: false, describe: 'machine-readable output', global: true })
    .command(hostCommand)
    .command(pluginCommand)
    .command(endpointCommand)
    .command(eventsCommand)
    .command(monitoringCommand)
    .command(resultsCommand)
    .command(dlqCommand)
    .command(batchCommand)
    .command(demoCommand)
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err, y) => {
      if (err) {
        const code = isModelwatchError(err) ? ` [${err.code}]` : '';
        process.stderr.write(`error${code}: ${err.message}\n`);
      } else {
        process.stderr.write(`${y.help() && ''}${msg}\n(see modelwatch --help)\n`);
      }
      process.exit(1);
    }) as unknown as Argv<GlobalArgs>;
}

export async function main(argv = hideBin(process.argv)): Promise<void> {
  await buildCli(argv).parseAsync();
}
