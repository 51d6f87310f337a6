import type { EndpointRecord, WindowRecord } from '@modelwatch/protocol';
import { NotFoundError } from '../errors.js';
import { REPORT_MAX_WINDOWS, type ReportProfile, type ReportSource } from './model.js';

/**
 * A GET of the host's API: the parsed JSON body, or `undefined` when it answers 404. Any other
 * failure throws (the client's `ModelwatchError` with the API's code).
 */
export type JsonGet = <T>(path: string) => Promise<T | undefined>;

/**
 * The report's data through the HTTP API: the endpoint (`GET /api/v1/endpoints/:name`), the
 * batch asked for (`GET /api/v1/endpoints/:name/batches/:id`), its windows (`GET
 * /api/v1/results`) and the detailed window's profile (`GET
 * /api/v1/endpoints/:name/profiles/:windowStart`, none on 404). The CLI gets with the client,
 * the report route with `app.inject` under the caller's token: the same routes, the same scopes.
 */
export function httpReportSource(get: JsonGet): ReportSource {
  const ep = (name: string) => `/api/v1/endpoints/${encodeURIComponent(name)}`;
  return {
    endpoint: (name) => get<EndpointRecord>(ep(name)),
    hasBatch: async (name, id) => (await get<object>(`${ep(name)}/batches/${encodeURIComponent(id)}`)) !== undefined,
    windows: async (q) => {
      const qs = new URLSearchParams({ endpoint: q.endpoint, limit: String(REPORT_MAX_WINDOWS) });
      if (q.app !== undefined) qs.set('app', q.app);
      if (q.batch !== undefined) qs.set('batch', q.batch);
      if (q.since !== undefined) qs.set('since', String(q.since));
      const r = await get<{ windows: WindowRecord[] }>(`/api/v1/results?${qs}`);
      if (!r) throw new NotFoundError('the results are not available: the writer did not answer (is it running?)');
      return r.windows;
    },
    profile: (name, windowStart) => get<ReportProfile>(`${ep(name)}/profiles/${windowStart}`),
  };
}
