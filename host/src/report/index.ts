/** Reports of an endpoint (`modelwatch report`, `GET /api/v1/endpoints/:name/report`): the data, its JSON, its HTML file. */
export { buildReport, REPORT_MAX_WINDOWS, REPORT_VERSION } from './model.js';
export type {
  Report,
  ReportApp,
  ReportFeature,
  ReportFeatureStats,
  ReportFeatureTest,
  ReportProfile,
  ReportQuery,
  ReportSeries,
  ReportSource,
  ReportStatus,
} from './model.js';
export { httpReportSource, type JsonGet } from './source.js';
export { renderReportHtml, REPORT_CSP } from './render.js';
export { DEFAULT_REPORT_RANGE_MS, reportFileName, resolveReportQuery, type ReportArgs } from './query.js';

/** The report formats. */
export const REPORT_FORMATS = ['html', 'json'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];
