import { readFile, writeFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { resolveHostOptions } from '../../config/options.js';
import { NATS_ROLES, type NatsRole } from '../../nats/roles.js';
import { ModelwatchError } from '../../errors.js';
import type { GlobalArgs } from '../args.js';
import { printJson } from '../format.js';

interface NatsCredsArgs extends GlobalArgs {
  role: string;
  'data-dir'?: string;
  out?: string;
}

/** `modelwatch nats creds`: the credentials of a role of the host's own nats-server, for trackers and runners elsewhere. */
export const natsCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'nats <command>',
  describe: "the host's own nats-server: credentials of its roles",
  builder: (y) =>
    y
      .command<NatsCredsArgs>(
        'creds',
        "print (or write) a role's credentials of the host's own nats-server: an nkey seed, for a tracker's credsFile or any NATS client's nkey option; made in the data folder if the host has not run yet",
        (b) =>
          b
            .option('role', {
              type: 'string',
              default: 'ingest',
              describe: 'ingest (default): publish events and labels (trackers, model servers); runner: app runners elsewhere; host',
            })
            .option('data-dir', { type: 'string', describe: "the host's data folder (default ~/.modelwatch, env MODELWATCH_DATA_DIR)" })
            .option('out', { type: 'string', describe: 'write them to this file (mode 0600) instead of printing them' })
            .example('$0 nats creds --role ingest --out ingest.nk', 'credentials for a tracker: createTracker({ credsFile: "ingest.nk", ... })') as never,
        async (args) => {
          const role = args.role as NatsRole;
          if (!NATS_ROLES.includes(role)) throw new ModelwatchError('INVALID_ARGUMENT', `--role ${args.role}: use ${NATS_ROLES.join(', ')}`);
          const dataDir = resolveHostOptions({ ...(args['data-dir'] !== undefined && { dataDir: args['data-dir'] }) }).dataDir;
          const { ensureCredentials } = await import('../../nats/auth.js'); // the NATS client loads with this command only
          const identity = (await ensureCredentials(dataDir))[role];
          const seed = (await readFile(identity.file, 'utf8')).trim();
          if (args.out) {
            await writeFile(args.out, `${seed}\n`, { mode: 0o600 });
            if (args.json) printJson({ role, file: args.out, publicKey: identity.publicKey });
            else process.stderr.write(`${role} credentials (nkey ${identity.publicKey}) written to ${args.out}\n`);
          } else if (args.json) printJson({ role, seed, publicKey: identity.publicKey });
          else process.stdout.write(`${seed}\n`);
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};
