import yargs, { type Argv, type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { isModelwatchError } from '../errors.js';
import { VERSION } from '../version.js';
import type { GlobalArgs } from './args.js';
import { artifactsCommand } from './commands/artifacts.js';
import { batchCommand } from './commands/batch.js';
import { demoCommand } from './commands/demo.js';
import { dlqCommand } from './commands/dlq.js';
import { doctorCommand } from './commands/doctor.js';
import { endpointCommand } from './commands/endpoint.js';
import { eventsCommand } from './commands/events.js';
import { exportCommand } from './commands/export.js';
import { hostCommand } from './commands/host.js';
import { metricsCommand } from './commands/metrics.js';
import { monitoringCommand } from './commands/monitoring.js';
import { natsCommand } from './commands/nats.js';
import { pluginCommand } from './commands/plugin.js';
import { reportCommand } from './commands/report.js';
import { resultsCommand } from './commands/results.js';
import { auditCommand, tokenCommand } from './commands/token.js';
import { alertCommand } from './commands/alert.js';

// each command has arguments of its own: the list only knows they all take the global ones
type AnyCommand = CommandModule<GlobalArgs, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Every command of the CLI, in the order `--help` lists them. */
export const COMMANDS: readonly AnyCommand[] = [
  hostCommand,
  pluginCommand,
  endpointCommand,
  eventsCommand,
  monitoringCommand,
  resultsCommand,
  reportCommand,
  exportCommand,
  artifactsCommand,
  metricsCommand,
  dlqCommand,
  batchCommand,
  tokenCommand,
  auditCommand,
  alertCommand,
  demoCommand,
  doctorCommand,
  natsCommand,
];

/**
 * A command without yargs' own `--version`: below the top level `--version V` is ours (the plugin
 * version of `plugin evaluate`), and `modelwatch --version` alone prints the CLI's version.
 */
function withoutVersionFlag(command: AnyCommand): AnyCommand {
  const builder = command.builder;
  if (typeof builder !== 'function') throw new Error(`command ${String(command.command)}: give its options in a builder function`);
  return { ...command, builder: (y: Argv<GlobalArgs>) => builder(y.version(false)) as Argv<GlobalArgs> };
}

/** The words of the command a usage error is about (` events send`), from its usage line (`$0 events send <file>`); '' for none. */
function commandOf(usage: unknown): string {
  const line = (usage as { getUsage?: () => Array<[string, string]> }).getUsage?.()[0]?.[0] ?? '';
  const words: string[] = [];
  for (const w of line.split(/\s+/).slice(1)) {
    if (!/^[a-z][a-z-]*$/.test(w)) break;
    words.push(w);
  }
  return words.map((w) => ` ${w}`).join('');
}

/** Build the `modelwatch` CLI. The commands are thin shells over ModelwatchClient and createHost. */
export function buildCli(argv: string[]): Argv<GlobalArgs> {
  const cli = yargs(argv)
    .scriptName('modelwatch')
    .version(VERSION)
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
    .option('token', {
      type: 'string',
      describe: 'API token (default: env MODELWATCH_TOKEN, else the admin token in <data-dir>/admin.token)',
      global: true,
      coerce: (v: string | string[]) => (Array.isArray(v) ? v[v.length - 1]! : v),
    })
    .option('data-dir', {
      type: 'string',
      describe: "data folder: the host's (results, owned nats-server) and where the CLI reads admin.token (default ~/.modelwatch, env MODELWATCH_DATA_DIR)",
      global: true,
      coerce: (v: string | string[]) => (Array.isArray(v) ? v[v.length - 1]! : v),
    });
  for (const c of COMMANDS) cli.command(withoutVersionFlag(c));
  return cli
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    .recommendCommands()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err, y) => {
      if (err) {
        const code = isModelwatchError(err) ? ` [${err.code}]` : '';
        process.stderr.write(`error${code}: ${err.message}\n`);
      } else {
        process.stderr.write(`${msg}\n(see modelwatch${commandOf(y)} --help)\n`);
      }
      process.exit(1);
    }) as unknown as Argv<GlobalArgs>;
}

/**
 * A reader that stops early (`modelwatch results | head`) closes the pipe: the CLI stops quietly,
 * as Unix tools do, instead of dying on the unhandled EPIPE. Any other failure to write is still
 * thrown. (`host start` writes nothing to standard output: its log goes to standard error.)
 */
function stopWhenStdoutCloses(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(process.exitCode ?? 0);
  });
}

export async function main(argv = hideBin(process.argv)): Promise<void> {
  stopWhenStdoutCloses();
  await buildCli(argv).parseAsync();
}
