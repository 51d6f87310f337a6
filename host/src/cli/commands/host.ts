import type { CommandModule } from 'yargs';
import type { GlobalArgs } from '../args.js';
import { HOST_START_FLAGS, hostOptionsOf, yargsOptions } from '../host-flags.js';

/** `host start`'s arguments: its flags ({@link HOST_START_FLAGS}) as yargs parsed them. */
type HostStartArgs = GlobalArgs & Record<string, unknown>;

/** `modelwatch host start`: run a host until Ctrl-C. */
export const hostCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'host <command>',
  describe: 'run a modelwatch host',
  builder: (y) =>
    y
      .command<HostStartArgs>(
        'start',
        'start a host (stream processor, controller, app runners, writer, HTTP API); Ctrl-C stops it cleanly',
        (b) =>
          b
            .options(yargsOptions(HOST_START_FLAGS))
            .example('$0 host start --base-period 5s', 'windows of five seconds, local nats-server in ~/.modelwatch')
            .example(
              '$0 host start --nats nats://n1:4222,nats://n2:4222 --roles api,writer --node-id api-1',
              'one process of a deployment on a NATS cluster: the API and a writer with a complete view',
            ),
        async (args) => {
          const options = hostOptionsOf(args, HOST_START_FLAGS);
          // the host loads here, not with the CLI: every other command starts without it
          const { createHost } = await import('../../host.js');
          const host = createHost(options);
          await host.start();
          process.stderr.write(`modelwatch host running: API ${host.apiUrl}, NATS ${host.natsUrl}, data in ${host.options.dataDir}\n`);
          await new Promise<void>((resolve) => {
            let stopping = false;
            const stop = (signal: string) => {
              if (stopping) {
                process.stderr.write('forced exit\n');
                process.exit(130);
              }
              stopping = true;
              process.stderr.write(`${signal}: stopping (again to force)...\n`);
              void host.stop().then(resolve);
            };
            process.once('SIGINT', () => stop('SIGINT'));
            process.once('SIGTERM', () => stop('SIGTERM'));
          });
          process.exit(0);
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};
