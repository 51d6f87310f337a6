import type { CommandModule } from 'yargs';
import { clientOf } from '../connect.js';
import { countOption, type GlobalArgs } from '../args.js';
import { fmtValue, iso, printJson, printTable } from '../format.js';

interface ValuesArgs extends GlobalArgs {
  endpoint: string;
  names?: string;
  from?: string;
  to?: string;
  limit?: number;
  after?: string;
}

/** `modelwatch metrics list|values`: the results and metrics an endpoint has, and their values over time. */
export const metricsCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'metrics <command>',
  describe: "an endpoint's result and metric names, and their values over a time range",
  builder: (y) =>
    y
      .command<GlobalArgs & { endpoint: string }>(
        'list <endpoint>',
        "the results and metrics of an endpoint's windows, by full name (<app>.result.<name>, <app>.metric.<name>)",
        (b) => b.positional('endpoint', { type: 'string', demandOption: true }),
        async (args) => {
          const r = await clientOf(args).metricNames(args.endpoint);
          if (args.json) return printJson(r.metrics);
          if (r.metrics.length === 0) {
            process.stdout.write(`no results or metrics of ${r.endpoint} yet\n`);
            return;
          }
          printTable(
            ['name', 'type', 'windows', 'first window', 'last window'],
            r.metrics.map((m) => [m.fullName, m.type, m.windows, iso(m.first), iso(m.last)]),
          );
        },
      )
      .command<ValuesArgs>(
        'values <endpoint>',
        'values of chosen results and metrics in windows starting in [--from, --to), one page at a time',
        (b) =>
          b
            .positional('endpoint', { type: 'string', demandOption: true })
            .option('names', { type: 'string', describe: 'full names, comma-separated (default: all; see metrics list)' })
            .option('from', { type: 'string', describe: 'window starts from T (ISO or ms)' })
            .option('to', { type: 'string', describe: 'window starts before T (ISO or ms)' })
            .option('limit', countOption('limit', { describe: 'points on the page (default 1000, at most 10000)' }))
            .option('after', { type: 'string', describe: "the page after this one: the 'next' a page printed" })
            .example('$0 metrics values churn --names histogram-data-drift.result.general_drift --from 2026-11-27T08:00:00Z --limit 100', ''),
        async (args) => {
          const r = await clientOf(args).metricValues(args.endpoint, {
            ...(args.names !== undefined && { names: args.names.split(',').map((n) => n.trim()) }),
            ...(args.from !== undefined && { from: args.from }),
            ...(args.to !== undefined && { to: args.to }),
            ...(args.limit !== undefined && { limit: args.limit }),
            ...(args.after !== undefined && { after: args.after }),
          });
          if (args.json) return printJson(r);
          printTable(
            ['name', 'window start', 'window end', 'value', 'status'],
            r.points.map((p) => [p.fullName, iso(p.windowStart), iso(p.windowEnd), fmtValue(p.value), p.status ?? '-']),
          );
          if (r.next) process.stdout.write(`more: --after ${r.next}\n`);
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};
