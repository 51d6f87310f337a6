/**
 * `GET /api/v1/endpoints/:name/report`: the endpoint's report (`host/src/report/`), as the HTML
 * file `modelwatch report` writes (a download, under the report's own strict CSP) or as its JSON.
 * The data is read through the API's own routes (`app.inject`) with the caller's credentials, so
 * the report shows exactly what the caller's token may read, as the CLI's report does.
 */
import type { FastifyPluginAsync } from 'fastify';
import { checkEndpointName } from '../../domain/names.js';
import { isErrorCode, ModelwatchError } from '../../errors.js';
import {
  buildReport,
  httpReportSource,
  REPORT_CSP,
  REPORT_FORMATS,
  renderReportHtml,
  reportFileName,
  resolveReportQuery,
  type JsonGet,
  type ReportFormat,
} from '../../report/index.js';
import { EndpointRoutes, type ReportRouteQuery } from '../contract.js';

/** The headers of the caller's request that its inner reads carry: who it is, and the host it asked. */
const FORWARDED = ['authorization', 'host', 'cookie'] as const;

export const reportRoutes: FastifyPluginAsync = async (app) => {
  app.get<{ Params: { name: string }; Querystring: ReportRouteQuery }>(EndpointRoutes.report, async (req, reply) => {
    const name = checkEndpointName(req.params.name);
    const format = (req.query.format || 'html') as ReportFormat;
    if (!REPORT_FORMATS.includes(format))
      throw new ModelwatchError('INVALID_ARGUMENT', `format: use ${REPORT_FORMATS.join(' or ')}, got '${req.query.format}'`);
    const { app: appName, from, to, window, batch } = req.query;
    const query = resolveReportQuery({ endpoint: name, app: appName, from, to, window, batch });
    const headers: Record<string, string> = {};
    for (const h of FORWARDED) {
      const v = req.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    const get: JsonGet = async <T>(url: string) => {
      const res = await app.inject({ method: 'GET', url, headers });
      if (res.statusCode === 404) return undefined;
      if (res.statusCode >= 400) {
        let e: { code?: string; message?: string } | undefined;
        try {
          e = (res.json() as { error?: { code?: string; message?: string } }).error;
        } catch {
          e = undefined;
        }
        throw new ModelwatchError(isErrorCode(e?.code) ? e.code : 'INTERNAL', e?.message ?? `GET ${url}: HTTP ${res.statusCode}`);
      }
      return res.json() as T;
    };
    const report = await buildReport(httpReportSource(get), query);
    if (format === 'json') return report;
    return reply
      .headers({
        'content-type': 'text/html; charset=utf-8',
        // the file's own policy, and no framing; `sandbox` keeps it from running anything even if opened in place
        'content-security-policy': `${REPORT_CSP}; frame-ancestors 'none'; sandbox`,
        'content-disposition': `attachment; filename="${reportFileName(name, new Date(report.generatedAt))}"`,
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
      })
      .send(renderReportHtml(report));
  });
};
