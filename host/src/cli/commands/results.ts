import type { CommandModule } from 'yargs';
import { clientOf } from '../connect.js';
import { countOption, type GlobalArgs } from '../args.js';
import { fmtValue, printJson, printTable, resultRows } from '../format.js';

interface ResultsArgs extends GlobalArgs {
  endpoint?: string;
  app?: string;
  limit?: number;
  batch?: string;
}

/** `modelwatch results`: one row per (endpoint, app, result, window), oldest window first. */
export const resultsCommand: CommandModule<GlobalArgs, ResultsArgs> = {
  command: 'results',
  describe: 'list results: one row per (endpoint, app, result, window); empty and failed windows show too',
  builder: (y) =>
    y
      .option('endpoint', { type: 'string', describe: 'only this endpoint' })
      .option('app', { type: 'string', describe: 'only this app' })
      .option('limit', countOption('limit', { describe: 'newest windows, at most this many (default 10000)' }))
      .option('batch', { type: 'string', describe: 'the windows of this batch of historical events (with --endpoint)' })
      .check((a) => {
        if (a.batch !== undefined && !a.endpoint) throw new Error('--batch needs --endpoint: a batch belongs to one endpoint');
        return true;
      })
      .example('$0 results --endpoint churn --app histogram-data-drift --json', '')
      .example('$0 results --endpoint churn --batch 3f2a9c', 'the results of a batch sent with `batch send`') as never,
  handler: async (args) => {
    const windows = await clientOf(args).results({
      ...(args.endpoint && { endpoint: args.endpoint }),
      ...(args.app && { app: args.app }),
      ...(args.limit !== undefined && { limit: args.limit }),
      ...(args.batch && { batch: args.batch }),
    });
    const rows = resultRows(windows.reverse());
    if (args.json) return printJson(rows);
    if (rows.length === 0) {
      process.stdout.write('no results yet\n');
      return;
    }
    printTable(
      ['endpoint', 'app', 'window start', 'window end', 'rows', 'result', 'kind', 'status', 'value'],
      rows.map((r) => [
        r.endpoint,
        `${r.app}@${r.version}`,
        r.windowStart,
        r.windowEnd,
        r.rows,
        r.result ?? '-',
        r.kind ?? '-',
        r.error ? `error: ${r.error}` : (r.status ?? '-'),
        fmtValue(r.value),
      ]),
    );
  },
};
