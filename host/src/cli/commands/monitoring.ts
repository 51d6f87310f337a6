import type { CommandModule } from 'yargs';
import type { DefaultAppOutcome, MonitoringStatus } from '../../client/client.js';
import { clientOf } from '../connect.js';
import type { GlobalArgs } from '../args.js';
import { printJson } from '../format.js';

/** The built-in app `monitoring enable` deploys unless told otherwise: the calibrated drift detector. */
export const DEFAULT_APP = 'drift';

function show(s: MonitoringStatus, json: boolean) {
  if (json) return printJson(s);
  const pending = s.pending ? `next base period: ${s.pending.basePeriod} from ${s.pending.effectiveFrom} (the next window boundary)\n` : '';
  process.stdout.write(
    `monitoring: ${s.enabled ? 'enabled' : 'disabled'}\nbase period: ${s.basePeriod} (since ${s.effectiveFrom})\n${pending}allowed lateness: ${s.allowedLatenessMs} ms\n`,
  );
}

/** One line on what became of the default app. */
export function describeDefaultApp(o: DefaultAppOutcome): string {
  switch (o.action) {
    case 'deployed':
      return `default app: deployed ${o.app}@${o.version}`;
    case 'already published':
      return `default app: ${o.app} is already published (${o.app}@${o.version}, ${o.status}); left as it is`;
    case 'skipped':
      return o.reason === 'disabled'
        ? `default app: skipped ${o.app}: it was disabled by a user (plugin enable ${o.app} turns it on again)`
        : `default app: skipped ${o.app}: it was removed by a user (plugin publish builtin:${o.app} publishes it again)`;
    case 'none':
      return 'default app: none';
  }
}

/** `modelwatch monitoring enable|disable|status`. */
export const monitoringCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'monitoring <command>',
  describe: 'turn monitoring on or off and set the window length',
  builder: (y) =>
    y
      .command<GlobalArgs & { 'base-period'?: string; 'default-app': string }>(
        'enable',
        'enable monitoring and deploy the default app (a built-in one, unless a version of it was ever published on this host); --base-period changes the window length from the next window boundary (no restart)',
        (b) =>
          b
            .option('base-period', { type: 'string', describe: 'window length, e.g. 5s, 1m, 10m' })
            .option('default-app', {
              type: 'string',
              default: DEFAULT_APP,
              describe:
                'the built-in app to deploy (see plugin list --builtin), or none; never deployed again once a version of it was published on this host, even if it was disabled or removed since',
            })
            .example('$0 monitoring enable', `deploys the calibrated drift detector (${DEFAULT_APP}) the first time`)
            .example('$0 monitoring enable --default-app histogram-data-drift', "MLRun's default app instead")
            .example('$0 monitoring enable --default-app none', 'deploys nothing'),
        async (args) => {
          const client = clientOf(args);
          const s = await client.setMonitoring({
            enabled: true,
            defaultApp: args['default-app'],
            ...(args['base-period'] && { basePeriod: args['base-period'] }),
          });
          if (s.defaultApp?.action === 'deployed') {
            for (const w of s.defaultApp.dryRun.warnings) process.stderr.write(`WARNING: ${w}\n`);
          }
          if (args.json) return printJson(s);
          show(s, false);
          if (s.defaultApp) process.stdout.write(`${describeDefaultApp(s.defaultApp)}\n`);
        },
      )
      .command<GlobalArgs>(
        'disable',
        'stop analysing windows (events are still taken; windows are caught up when enabled again)',
        (b) => b,
        async (args) => show(await clientOf(args).setMonitoring({ enabled: false }), args.json),
      )
      .command<GlobalArgs>(
        'status',
        'show whether monitoring is on, the window length, and a new one that applies from the next window boundary',
        (b) => b,
        async (args) => show(await clientOf(args).monitoring(), args.json),
      )
      .demandCommand(1),
  handler: () => undefined,
};
