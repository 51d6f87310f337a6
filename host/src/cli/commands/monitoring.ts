import type { CommandModule } from 'yargs';
import { ModelwatchClient, type MonitoringStatus } from '../../client/client.js';
import type { GlobalArgs } from '../args.js';
import { printJson } from '../format.js';

function show(s: MonitoringStatus, json: boolean) {
  if (json) return printJson(s);
  const pending = s.pending ? `next base period: ${s.pending.basePeriod} from ${s.pending.effectiveFrom} (the next window boundary)\n` : '';
  process.stdout.write(
    `monitoring: ${s.enabled ? 'enabled' : 'disabled'}\nbase period: ${s.basePeriod} (since ${s.effectiveFrom})\n${pending}allowed lateness: ${s.allowedLatenessMs} ms\n`,
  );
}

/** `modelwatch monitoring enable|disable|status`. */
export const monitoringCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'monitoring <command>',
  describe: 'turn monitoring on or off and set the window length',
  builder: (y) =>
    y
      .command<GlobalArgs & { 'base-period'?: string }>(
        'enable',
        'enable monitoring; --base-period changes the window length from the next window boundary (no restart)',
        (b) => b.option('base-period', { type: 'string', describe: 'window length, e.g. 5s, 1m, 10m' }),
        async (args) => {
          const client = new ModelwatchClient({ url: args.host });
          show(await client.setMonitoring({ enabled: true, ...(args['base-period'] && { basePeriod: args['base-period'] }) }), args.json);
        },
      )
      .command<GlobalArgs>(
        'disable',
        'stop analysing windows (events are still taken; windows are caught up when enabled again)',
        (b) => b,
        async (args) => show(await new ModelwatchClient({ url: args.host }).setMonitoring({ enabled: false }), args.json),
      )
      .command<GlobalArgs>(
        'status',
        'show whether monitoring is on, the window length, and a new one that applies from the next window boundary',
        (b) => b,
        async (args) => show(await new ModelwatchClient({ url: args.host }).monitoring(), args.json),
      )
      .demandCommand(1),
  handler: () => undefined,
};
