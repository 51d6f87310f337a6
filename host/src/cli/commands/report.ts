import { writeFile } from 'node:fs/promises';
import type { CommandModule } from 'yargs';
import { InvalidArgumentError } from '../../errors.js';
import { buildReport, httpReportSource, REPORT_FORMATS, renderReportHtml, reportFileName, resolveReportQuery, type ReportFormat } from '../../report/index.js';
import type { GlobalArgs } from '../args.js';
import { clientOf } from '../connect.js';
import { printJson } from '../format.js';

interface ReportArgs extends GlobalArgs {
  endpoint: string;
  app?: string;
  from?: string;
  to?: string;
  window?: string;
  batch?: string;
  format?: string;
  output?: string;
}

/** `modelwatch report`: an endpoint's report as one self-contained HTML file, or as JSON. */
export const reportCommand: CommandModule<GlobalArgs, ReportArgs> = {
  command: 'report',
  describe: "an endpoint's drift report: one self-contained HTML file (no network needed to open it), or its data as JSON",
  builder: (y) =>
    y
      .option('endpoint', { type: 'string', demandOption: true, describe: 'the endpoint' })
      .option('app', { type: 'string', describe: "only this app's windows" })
      .option('from', { type: 'string', describe: 'windows starting at or after this: ISO time, ms, or a duration back from now (24h) (default: 24h)' })
      .option('to', { type: 'string', describe: 'windows starting before this (default: now)' })
      .option('window', { type: 'string', describe: 'one window: the one starting at this time (instead of --from/--to)' })
      .option('batch', { type: 'string', describe: 'the windows of this batch (`batch send`)' })
      .option('format', { type: 'string', describe: 'html (default) or json (also --json)' })
      .option('output', {
        alias: 'o',
        type: 'string',
        describe: 'write to this file (default: html to modelwatch-report-<endpoint>-<time>.html, json to stdout)',
      })
      .example('$0 report --endpoint churn -o churn-report.html', 'the last day')
      .example('$0 report --endpoint churn --from 2026-11-01T00:00:00Z --to 2026-11-08T00:00:00Z -o week.html', '')
      .example('$0 report --endpoint churn --batch 2026-10 --format json', 'the report of a batch, as data') as never,
  handler: async (args) => {
    const format = (args.format ?? (args.json ? 'json' : 'html')) as ReportFormat;
    if (!REPORT_FORMATS.includes(format)) throw new InvalidArgumentError(`--format ${args.format}: use ${REPORT_FORMATS.join(' or ')}`);
    if (args.window !== undefined && (args.from !== undefined || args.to !== undefined))
      throw new InvalidArgumentError('--window goes alone: give one window, or a range with --from and --to');
    const query = resolveReportQuery(args);
    const client = clientOf(args, { timeoutMs: 120_000 });
    const report = await buildReport(
      httpReportSource((path) => client.getJson(path)),
      query,
    );
    if (format === 'json' && args.output === undefined) return printJson(report);
    const file = args.output ?? reportFileName(args.endpoint, new Date(report.generatedAt));
    await writeFile(file, format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderReportHtml(report));
    const drifted = report.summary.driftedFeatures;
    process.stdout.write(
      `report of ${args.endpoint} written to ${file}: ${report.range.windows} window(s), status ${report.summary.status}` +
        `${drifted.length ? `, drifted: ${drifted.slice(0, 5).join(', ')}${drifted.length > 5 ? ', ...' : ''}` : ''}\n`,
    );
  },
};
