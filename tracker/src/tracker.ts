import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { readFile } from 'node:fs/promises';
import { connect, credsAuthenticator, headers as natsHeaders, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from '@nats-io/transport-node';
import {
  ENDPOINT_NAME,
  HeaderNames,
  isFlatRow,
  MAX_LATENCY_MICROS,
  MAX_TIME_MS,
  MIN_SAMPLING_PERCENTAGE,
  Subjects,
  type EventSource,
  type InferenceEvent,
  type RequestBatch,
} from '@modelwatch/protocol';

export interface TrackerOptions {
  /** NATS server URL(s); the tracker opens (and closes) its own connection. */
  servers?: string | string[];
  /** Or a connection of yours (the tracker never closes it). */
  nc?: NatsConnection;
  /**
   * Credentials for `servers`: a file holding a `.creds` file (user JWT and seed) or an nkey
   * user seed (`SU...`), as `modelwatch nats creds --role ingest` writes for a host's own
   * nats-server. (A host started without `--nats` lets no one in without them.)
   */
  credsFile?: string;
  /** TLS for `servers`: the CA to verify the server with, and a client certificate and key if it asks for one (PEM files). */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
  /** The modelwatch endpoint: events go to `mw.events.<endpoint>`. */
  endpoint: string;
  /** Share of rows kept, 0.001 <= p <= 100 (MLRun's `sampling_percentage`: each input row is kept with probability p/100). @default 100 */
  samplingPercentage?: number;
  /** Requests per message. @default 1000 */
  batchSize?: number;
  /** Send what is tracked at least this often. @default 1000 */
  flushIntervalMs?: number;
  /** Most requests held while NATS cannot be reached; beyond it the oldest are dropped (and counted). @default 100000 */
  maxBufferedEvents?: number;
  /** How long one publish may wait for JetStream's acknowledgement. @default 5000 */
  publishTimeoutMs?: number;
  /** Random numbers in [0, 1) for sampling. @default Math.random */
  random?: () => number;
  /** Called when a batch cannot be sent (it is retried) or requests are dropped. */
  onError?: (err: Error) => void;
}

/** One inference request. */
export interface TrackedRequest {
  /**
   * Rows: arrays in feature order, or objects keyed by feature name; or one row written flat,
   * a list of values (`[5.1, 3.5, 1.4, 0.2]`), as MLRun reads it.
   */
  inputs: InferenceEvent['inputs'];
  /** One prediction per row (a scalar or an array when the model has several outputs), or one for a single row. */
  outputs?: unknown;
  /**
   * The request's id (ground truth joins on it): at most `MAX_REQUEST_ID_LENGTH` (256) characters,
   * counting the `#<row>` a sampled row of a multi-row request gets; the host refuses (dead-letters)
   * an event with a longer one.
   */
  requestId?: string;
  latencyMicros?: number;
  /** Event time. @default now */
  when?: number | Date | string;
  /** The request failed: counted as an error request, its rows are not analysed. */
  error?: unknown;
}

export interface TrackerStats {
  /** Requests tracked. */
  tracked: number;
  /** Rows kept by sampling. */
  sampledRows: number;
  /** Requests whose batch JetStream acknowledged. */
  delivered: number;
  /** Batches acknowledged. */
  batches: number;
  /** Requests dropped because the buffer was full while NATS could not be reached. */
  dropped: number;
  /** Requests held now (the open batch and the batches waiting to be sent). */
  buffered: number;
  /** Failed publish attempts (each retried). */
  failures: number;
}

export interface Tracker {
  /** Record one request. Never blocks and never throws for a NATS problem. */
  track(request: TrackedRequest): void;
  /** Send everything tracked so far; resolves once JetStream has acknowledged it. */
  flush(): Promise<void>;
  /** Flush (waiting at most `timeoutMs`), then stop (and close the connection the tracker opened). */
  close(opts?: { timeoutMs?: number }): Promise<void>;
  stats(): TrackerStats;
}

interface OpenBatch {
  rows: number;
  requests: number;
  errors: number;
  latencies: number[];
  events: InferenceEvent[];
  firstWhen: number;
  lastWhen: number;
}

interface SealedBatch {
  seq: number;
  requests: number;
  /** Dropped requests this batch reports (reported again by a later batch if this one is dropped). */
  reports: number;
  payload: Uint8Array;
}

/** Create a tracker. Tracking starts at once; the connection is made (and remade) in the background. */
export function createTracker(options: TrackerOptions): Tracker {
  if (!ENDPOINT_NAME.test(options.endpoint)) throw new Error(`endpoint: '${options.endpoint}' is not a valid endpoint name`);
  if (!options.nc && !options.servers) throw new Error('give servers (NATS URLs) or nc (a NATS connection)');
  const p = options.samplingPercentage ?? 100;
  if (!(typeof p === 'number' && p >= MIN_SAMPLING_PERCENTAGE && p <= 100))
    throw new Error(`samplingPercentage: expected ${MIN_SAMPLING_PERCENTAGE} <= p <= 100 (the host's range), got ${p}`);
  const batchSize = Math.max(1, options.batchSize ?? 1000);
  const flushMs = Math.max(10, options.flushIntervalMs ?? 1000);
  const maxBuffered = Math.max(batchSize, options.maxBufferedEvents ?? 100_000);
  const random = options.random ?? Math.random;
  const subject = Subjects.events(options.endpoint);
  const id = crypto.randomUUID();
  const stats: TrackerStats = { tracked: 0, sampledRows: 0, delivered: 0, batches: 0, dropped: 0, buffered: 0, failures: 0 };
  const queue: SealedBatch[] = [];
  let open: OpenBatch | undefined;
  let seq = 0;
  /** Dropped requests not yet reported to the host (they go with the next batch). */
  let droppedUnreported = 0;
  let closed = false;
  let sending = false;
  let closeDeadline: number | undefined;
  let waiters: Array<() => void> = [];
  let wake: (() => void) | undefined;

  // the connection: yours, or ours, made in the background and retried until it works (or the tracker closes)
  let owned: NatsConnection | undefined;
  let js: JetStreamClient | undefined;
  const connecting = (async () => {
    if (options.nc) {
      js = jetstream(options.nc, { timeout: options.publishTimeoutMs ?? 5000 });
      return;
    }
    let delay = 250;
    while (!closed) {
      try {
        owned = await connect({
          servers: options.servers!,
          name: `modelwatch-tracker-${options.endpoint}`,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          ...(await securityOptions(options)),
        });
        if (closed) break;
        js = jetstream(owned, { timeout: options.publishTimeoutMs ?? 5000 });
        wake?.();
        return;
      } catch (err) {
        options.onError?.(err as Error);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(5000, delay * 2);
      }
    }
  })();

  const seal = () => {
    if (!open && droppedUnreported === 0) return;
    // a batch without requests still goes out when it has drops to report
    const now = Date.now();
    const b = open ?? { rows: 0, requests: 0, errors: 0, latencies: [], events: [], firstWhen: now, lastWhen: now };
    open = undefined;
    const body: RequestBatch = {
      format: 'batch',
      samplingPercentage: p,
      requests: {
        count: b.requests,
        errors: b.errors,
        latencyMicros: b.latencies,
        dropped: droppedUnreported,
        // (none when no request had a time the host takes)
        ...(b.firstWhen <= b.lastWhen ? { firstWhen: b.firstWhen, lastWhen: b.lastWhen } : {}),
        // MLRun's names, for the record: the host counts the rows it accepts itself
        effectiveSampleCount: b.rows,
        estimatedPredictionCount: (b.rows * 100) / p,
      },
      events: b.events,
    };
    const reports = droppedUnreported;
    droppedUnreported = 0;
    queue.push({ seq: seq++, requests: b.requests, reports, payload: new TextEncoder().encode(JSON.stringify(body)) });
    // bounded memory: drop the oldest batches (never the one being sent) and count their requests
    while (stats.buffered > maxBuffered && queue.length > 1) {
      const old = queue.splice(sending ? 1 : 0, 1)[0]!;
      stats.buffered -= old.requests;
      stats.dropped += old.requests;
      droppedUnreported += old.requests + old.reports;
      options.onError?.(new Error(`modelwatch tracker: NATS unreachable and ${maxBuffered} requests buffered; dropped ${old.requests}`));
    }
    wake?.();
  };

  const sender = (async () => {
    let backoff = 250;
    for (;;) {
      if (queue.length === 0 || !js) {
        if (queue.length === 0) {
          for (const w of waiters) w();
          waiters = [];
          if (closed) return;
        }
        await new Promise<void>((r) => {
          wake = r;
          if (queue.length > 0 && js) r();
        });
        wake = undefined;
        continue;
      }
      const b = queue[0]!;
      sending = true;
      try {
        const h = natsHeaders();
        h.set(HeaderNames.source, 'tracker' satisfies EventSource);
        await js.publish(subject, b.payload, { msgID: `trk:${id}:${b.seq}`, headers: h });
        queue.shift();
        stats.buffered -= b.requests;
        stats.delivered += b.requests;
        stats.batches++;
        backoff = 250;
      } catch (err) {
        stats.failures++;
        options.onError?.(err as Error);
        if (closed && closeDeadline !== undefined && Date.now() > closeDeadline) return;
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(5000, backoff * 2);
      } finally {
        sending = false;
      }
    }
  })();

  const timer = setInterval(() => seal(), flushMs);
  timer.unref?.();

  const toMs = (w: TrackedRequest['when']): number =>
    w === undefined ? Date.now() : w instanceof Date ? w.getTime() : typeof w === 'number' ? w : Date.parse(w);

  return {
    track(r: TrackedRequest): void {
      if (closed) return;
      stats.tracked++;
      const when = toMs(r.when);
      if (!open) open = { rows: 0, requests: 0, errors: 0, latencies: [], events: [], firstWhen: Infinity, lastWhen: -Infinity };
      const b = open;
      b.requests++;
      stats.buffered++;
      // a time the host would refuse (past a Date's range) stays out of the batch's first and last
      // (it would refuse the whole batch); the request's event is refused alone
      if (when >= 0 && when <= MAX_TIME_MS) {
        if (when < b.firstWhen) b.firstWhen = when;
        if (when > b.lastWhen) b.lastWhen = when;
      }
      // a latency the host would refuse stays out of the batch's counts (the whole batch would be refused)
      if (typeof r.latencyMicros === 'number' && r.latencyMicros >= 0 && r.latencyMicros <= MAX_LATENCY_MICROS) b.latencies.push(r.latencyMicros);
      if (r.error !== undefined && r.error !== null && r.error !== false) {
        b.errors++;
      } else if (Array.isArray(r.inputs) && r.inputs.length > 0) {
        // one row written flat is one row (sampled whole), as the host reads it
        const rows: unknown[] = isFlatRow(r.inputs) ? [r.inputs] : r.inputs;
        const n = rows.length;
        const base = { when, ...(r.latencyMicros !== undefined ? { latencyMicros: r.latencyMicros } : {}) };
        if (p >= 100) {
          b.events.push({
            ...base,
            inputs: r.inputs,
            ...(r.outputs !== undefined ? { outputs: r.outputs } : {}),
            ...(r.requestId !== undefined ? { requestId: r.requestId } : {}),
          });
          stats.sampledRows += n;
          b.rows += n;
        } else {
          // MLRun's sampling: each input row is kept with probability p/100; a kept row of a
          // multi-row request keeps its request id `<id>#<row>` so ground truth still joins
          const perRow = Array.isArray(r.outputs) && r.outputs.length === n;
          for (let i = 0; i < n; i++) {
            if (random() >= p / 100) continue;
            stats.sampledRows++;
            b.rows++;
            const outputs = r.outputs === undefined ? undefined : perRow ? [(r.outputs as unknown[])[i]] : r.outputs;
            const requestId = r.requestId === undefined ? undefined : n > 1 ? `${r.requestId}#${i}` : r.requestId;
            b.events.push({
              ...base,
              inputs: [rows[i]] as InferenceEvent['inputs'],
              ...(outputs !== undefined ? { outputs } : {}),
              ...(requestId !== undefined ? { requestId } : {}),
            });
          }
        }
      }
      if (b.requests >= batchSize) seal();
    },
    async flush(): Promise<void> {
      seal();
      seal(); // again: drops the first one caused are reported
      if (queue.length === 0) return;
      await new Promise<void>((r) => {
        waiters.push(r);
        wake?.();
      });
    },
    async close(opts: { timeoutMs?: number } = {}): Promise<void> {
      if (closed) return;
      seal();
      seal();
      closed = true;
      clearInterval(timer);
      closeDeadline = Date.now() + (opts.timeoutMs ?? 10_000);
      const t = setTimeout(() => {
        // give up on what is left: it counts as dropped
        for (const b of queue.splice(sending ? 1 : 0)) {
          stats.dropped += b.requests;
          stats.buffered -= b.requests;
        }
        wake?.();
      }, opts.timeoutMs ?? 10_000);
      wake?.();
      await sender;
      clearTimeout(t);
      await connecting;
      await owned?.close();
    },
    stats: () => ({ ...stats }),
  };
}

/** The authenticator and TLS options of the tracker's own connection. */
async function securityOptions(options: TrackerOptions): Promise<Partial<ConnectionOptions>> {
  const out: Partial<ConnectionOptions> = {};
  if (options.credsFile) {
    const text = await readFile(options.credsFile, 'utf8');
    if (text.includes('BEGIN NATS USER JWT')) out.authenticator = credsAuthenticator(new TextEncoder().encode(text));
    else if (/^SU[A-Z2-7]{50,}$/.test(text.trim())) out.authenticator = nkeyAuthenticator(new TextEncoder().encode(text.trim()));
    else throw new Error(`credsFile: ${options.credsFile} holds neither a .creds file (user JWT and seed) nor an nkey user seed (SU...)`);
  }
  if (options.tls) out.tls = { ...options.tls };
  return out;
}
