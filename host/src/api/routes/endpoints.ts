/** An endpoint's deletion, its result and metric names and values, and a reference taken from its own traffic. */
import type { FastifyPluginAsync } from 'fastify';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  PROTOCOL_VERSION,
  Streams,
  Subjects,
  type EndpointPurgeMessage,
  type EndpointRecord,
  type ReferenceTable,
  type ErrorReply,
  type ResultsReply,
  type ResultsRequest,
  type WindowCursor,
} from '@modelwatch/protocol';
import type { CellValue } from '@modelwatch/sdk';
import { parseDuration } from '../../config/duration.js';
import { checkEndpointName } from '../../domain/names.js';
import { DEFAULT_RESULTS_LIMIT } from '../../domain/results-order.js';
import { parseTime } from '../../domain/time.js';
import { isErrorCode, ModelwatchError } from '../../errors.js';
import { jsonCodec } from '../../nats/codec.js';
import { isNoResponders, isNotFound, isTimeout } from '../../nats/errors.js';
import type { Buckets } from '../../nats/topology.js';
import { readWindowRows } from '../../runner/window-data.js';
import type { EndpointStore } from '../../store/endpoints.js';
import { SettingsStore } from '../../store/settings.js';
import {
  EndpointRoutes,
  type DeleteEndpointReply,
  type MetricNamesReply,
  type MetricValuesReply,
  type ReferenceFromTrafficBody,
  type ReferenceFromTrafficReply,
} from '../contract.js';

export interface EndpointRoutesOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  buckets: Buckets;
  retentionMs: number;
  allowedLatenessMs: number;
  maxFutureSkewMs: number;
  /** The record as listings show it. */
  summary: (e: EndpointRecord) => Omit<EndpointRecord, 'featureStats'> & { hasReference: boolean };
  /** The endpoint records, as the API's other routes change them (its changes seen by this process at once). */
  endpoints: EndpointStore;
}

type WriterReply = Exclude<ResultsReply, ErrorReply>;

/** How long a query waits for a writer's answer (a listing of names or values may read much of its store). */
const QUERY_TIMEOUT_MS = 30_000;
/**
 * How long a later page waits for the writer that answered the first before another is asked: a
 * page is bounded by NATS' max payload, read in far less, so a writer that takes longer is slow
 * or stuck, and any other holds the same windows.
 */
const PAGE_TIMEOUT_MS = 5_000;

/** Ask the writer (`mw.svc.results.query`); `NOT_FOUND` when no writer answers, the writer's error (its code) when it fails. */
export async function askWriter(nc: NatsConnection, q: ResultsRequest): Promise<WriterReply> {
  const first = answered(await requestWriter(nc, q, Subjects.resultsQuery));
  if (!('windows' in first) || first.next === undefined || 'metricNames' in q || 'metricValues' in q || 'series' in q || 'purge' in q) return first;
  // windows come in pages that fit NATS' max payload: ask the writer that answered for the rest,
  // each page the windows after the last of the one before, at most what is left of the limit
  const windows = [...first.windows];
  let writer = first.writer;
  const limit = ('limit' in q ? q.limit : undefined) ?? DEFAULT_RESULTS_LIMIT;
  for (let next: WindowCursor | undefined = first.next; next !== undefined && windows.length < limit;) {
    const rest: ResultsRequest = { ...q, after: next, limit: limit - windows.length };
    let page = writer === undefined ? undefined : await requestWriter(nc, rest, Subjects.resultsQueryOf(writer), PAGE_TIMEOUT_MS);
    // that writer is gone (stopped, or its node down) or slow: any other goes on from the same window
    if (page === undefined || 'noAnswer' in page) page = await requestWriter(nc, rest, Subjects.resultsQuery);
    const reply = answered(page);
    if (!('windows' in reply)) throw new ModelwatchError('INTERNAL', 'the writer answered a page of windows with something else');
    windows.push(...reply.windows);
    next = reply.next;
    writer = reply.writer;
  }
  return { windows };
}

/** Why no writer answered a request: none listens on its subject, or none answered in time. */
interface NoAnswer {
  noAnswer: string;
}

/**
 * One request to a writer on `subject`: its reply, or {@link NoAnswer} (none listens, or none
 * answered within `timeoutMs`), which the caller may ask another writer about.
 * @throws {ModelwatchError} the writer's error, with its code; NOT_FOUND when the request failed otherwise
 */
async function requestWriter(nc: NatsConnection, q: ResultsRequest, subject: string, timeoutMs = QUERY_TIMEOUT_MS): Promise<WriterReply | NoAnswer> {
  let reply: ResultsReply;
  try {
    const m = await nc.request(subject, jsonCodec.encode(q), { timeout: timeoutMs });
    reply = jsonCodec.decode<ResultsReply>(m.data);
  } catch (err) {
    if (isNoResponders(err) || isTimeout(err)) return { noAnswer: (err as Error).message };
    throw noWriter((err as Error).message);
  }
  if ('error' in reply) throw new ModelwatchError(isErrorCode(reply.code) ? reply.code : 'INVALID_ARGUMENT', reply.error);
  return reply;
}

/** The writer's reply. @throws {ModelwatchError} NOT_FOUND when none came */
function answered(r: WriterReply | NoAnswer): WriterReply {
  if ('noAnswer' in r) throw noWriter(r.noAnswer);
  return r;
}

/** The error of a request no writer answered, `why` being the request's failure. */
function noWriter(why: string): ModelwatchError {
  return new ModelwatchError('NOT_FOUND', `the writer did not answer (${why}); is it running?`);
}

export const endpointRoutes: FastifyPluginAsync<EndpointRoutesOptions> = async (app, opts) => {
  const { nc, js, jsm, buckets, endpoints } = opts;
  const settings = new SettingsStore(buckets.settings, opts);

  app.delete<{ Params: { name: string }; Querystring: { purge?: string } }>('/api/v1/endpoints/:name', async (req): Promise<DeleteEndpointReply> => {
    const name = checkEndpointName(req.params.name);
    const purge = req.query.purge === 'true' || req.query.purge === '1';
    const rec = await endpoints.delete(name);
    const out: DeleteEndpointReply = {
      endpoint: name,
      endpointId: rec.id,
      record: true,
      reference: rec.referenceRevision !== undefined,
      kept: purge
        ? ['points already written to the TSDB']
        : ['results and serving metrics in the writer store', 'events, rows, outputs, dead letters and labels in their streams', 'points in the TSDB'],
    };
    if (purge) out.purged = await purgeData(name, rec.id);
    return out;
  });

  /** Everything stored of an endpoint, but its TSDB points. */
  const purgeData = async (name: string, id: string): Promise<NonNullable<DeleteEndpointReply['purged']>> => {
    const batchKeys: string[] = [];
    for await (const k of await buckets.batches.keys(`${name}.>`)) batchKeys.push(k);
    // one writer purges at once and counts what it removed; then the purge goes among the outputs,
    // for every writer to apply in order (a writer down now applies it at its catch-up), and the
    // outputs and purges before it are purged from the stream
    const reply = await askWriter(nc, { purge: { endpointId: id } });
    if (!('purged' in reply)) throw new ModelwatchError('INTERNAL', 'the writer did not answer a purge');
    const notice: EndpointPurgeMessage = { v: PROTOCOL_VERSION, endpointId: id, endpointName: name, at: Date.now() };
    const marker = await js.publish(Subjects.purges(id), jsonCodec.encode(notice));
    const filters: Array<[string, string]> = [
      [Streams.events, Subjects.events(name)],
      [Streams.rows, `mw.rows.${id}.>`],
      ...batchKeys.map((k): [string, string] => [Streams.rows, `mw.rows.${id}-${k.slice(name.length + 1)}.>`]),
      [Streams.dlq, `mw.dlq.${name}.>`],
      [Streams.labels, Subjects.labels(name)],
      [Streams.serving, Subjects.servingMinute(id)],
    ];
    const messages: Record<string, number> = {};
    for (const [stream, filter] of filters) {
      const r = await jsm.streams.purge(stream, { filter });
      messages[stream] = (messages[stream] ?? 0) + r.purged;
    }
    // up to the purge's own message, which stays: a writer not there yet still reads it
    messages[Streams.outputs] = (await jsm.streams.purge(Streams.outputs, { filter: Subjects.outputs(id), seq: marker.seq })).purged;
    await jsm.streams.purge(Streams.outputs, { filter: Subjects.purges(id), seq: marker.seq });
    let controllerKeys = 0;
    for await (const k of await buckets.controller.keys(`${id}.>`)) {
      await buckets.controller.purge(k);
      controllerKeys++;
    }
    for (const k of batchKeys) await buckets.batches.purge(k);
    return { results: reply.purged, messages, controllerKeys, batches: batchKeys.length };
  };

  app.get<{ Params: { name: string } }>(EndpointRoutes.metrics, async (req): Promise<MetricNamesReply> => {
    const ep = await endpoints.require(checkEndpointName(req.params.name));
    const reply = await askWriter(nc, { metricNames: { endpointId: ep.id } });
    if (!('metricNames' in reply)) throw new ModelwatchError('INTERNAL', 'the writer did not answer with names');
    return { endpoint: ep.name, metrics: reply.metricNames };
  });

  app.get<{ Params: { name: string }; Querystring: { names?: string; from?: string; to?: string; limit?: string; after?: string } }>(
    EndpointRoutes.metricValues,
    async (req): Promise<MetricValuesReply> => {
      const ep = await endpoints.require(checkEndpointName(req.params.name));
      const q = req.query;
      const names = q.names
        ?.split(',')
        .map((n) => n.trim())
        .filter(Boolean);
      for (const n of names ?? []) {
        if (!/^[^.]+\.(result|metric)\.[^.]+$/.test(n)) {
          throw new ModelwatchError(
            'INVALID_ARGUMENT',
            `names: '${n}' is not a full name (<app>.result.<name> or <app>.metric.<name>; modelwatch metrics list shows them)`,
          );
        }
      }
      const limit = q.limit === undefined ? undefined : Number(q.limit);
      if (limit !== undefined && (!Number.isInteger(limit) || limit <= 0 || limit > 10_000)) {
        throw new ModelwatchError('INVALID_ARGUMENT', `limit: expected a whole number from 1 to 10000, got '${q.limit}'`);
      }
      const reply = await askWriter(nc, {
        metricValues: {
          endpointId: ep.id,
          ...(names?.length && { names }),
          ...(q.from !== undefined && { from: parseTime(q.from, 'from') }),
          ...(q.to !== undefined && { to: parseTime(q.to, 'to') }),
          ...(limit !== undefined && { limit }),
          ...(q.after !== undefined && { after: q.after }),
        },
      });
      if (!('points' in reply)) throw new ModelwatchError('INTERNAL', 'the writer did not answer with points');
      return { endpoint: ep.name, points: reply.points, ...(reply.next !== undefined && { next: reply.next }) };
    },
  );

  app.post<{ Params: { name: string }; Body: Partial<Record<'from' | 'to' | 'last', unknown>> | undefined }>(
    EndpointRoutes.referenceFromTraffic,
    async (req): Promise<ReferenceFromTrafficReply> => {
      const ep = await endpoints.require(checkEndpointName(req.params.name));
      const body = (req.body ?? {}) as Partial<Record<keyof ReferenceFromTrafficBody | 'from' | 'to' | 'last', unknown>>;
      const now = Date.now();
      let from: number;
      let to: number;
      if (body.last !== undefined) {
        if (body.from !== undefined || body.to !== undefined) throw new ModelwatchError('INVALID_ARGUMENT', 'give either from and to, or last, not both');
        from = now - parseDuration(body.last as string, 'last', 'INVALID_ARGUMENT');
        to = now;
      } else {
        if (body.from === undefined || body.to === undefined)
          throw new ModelwatchError('INVALID_ARGUMENT', 'give from and to (a past range), or last (a trailing window such as 1h)');
        from = parseTime(body.from, 'from');
        to = parseTime(body.to, 'to');
      }
      if (!(from < to))
        throw new ModelwatchError('INVALID_ARGUMENT', `from (${new Date(from).toISOString()}) must be before to (${new Date(to).toISOString()})`);
      const horizon = now - opts.retentionMs;
      if (from < horizon) {
        throw new ModelwatchError(
          'INVALID_ARGUMENT',
          `from (${new Date(from).toISOString()}) is beyond the retention: rows are kept ${Math.round(opts.retentionMs / 3_600_000)} h, since ${new Date(horizon).toISOString()}`,
        );
      }
      const table = await rowsOf(ep, from, to);
      if (table.rows === 0) {
        throw new ModelwatchError(
          'INVALID_REFERENCE',
          `endpoint '${ep.name}' has no rows from ${new Date(from).toISOString()} to ${new Date(to).toISOString()}: nothing to take as its reference`,
        );
      }
      const rec = await endpoints.setReference(ep.name, table);
      return { ...opts.summary(rec), referenceRows: table.rows, from, to };
    },
  );

  /** The endpoint's rows with event times in `[from, to)`, as a reference table (features then outputs). */
  const rowsOf = async (ep: EndpointRecord, from: number, to: number): Promise<ReferenceTable> => {
    const s = await settings.read();
    const longest = Math.max(...(s?.periods.map((p) => p.periodMs) ?? [0]), 0);
    const prefix = `mw.rows.${ep.id}.`;
    let subjects: Record<string, number> = {};
    try {
      subjects = (await jsm.streams.info(Streams.rows, { subjects_filter: `${prefix}*` })).state.subjects ?? {};
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const starts = Object.keys(subjects)
      .map((sub) => Number(sub.slice(prefix.length)))
      .filter((start) => start < to && start + longest > from)
      .sort((a, b) => a - b);
    const batches = await readWindowRows(js, jsm, ep.id, starts);
    const columns = [...ep.featureNames, ...ep.labelNames];
    const values: Record<string, CellValue[]> = Object.fromEntries(columns.map((c) => [c, []]));
    let rows = 0;
    for (const b of batches) {
      b.ts.forEach((t, i) => {
        if (t < from || t >= to) return;
        ep.featureNames.forEach((c, j) => values[c]!.push(b.x[i]?.[j] ?? null));
        ep.labelNames.forEach((c, j) => values[c]!.push(b.y[i]?.[j] ?? null));
        rows++;
      });
    }
    return { columns, values, rows };
  };
};
