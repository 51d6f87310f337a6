/**
 * The wire contract: every message, request/reply payload, stored record and header that
 * crosses a process boundary between modelwatch's processes (model servers and the tracker,
 * the stream processor, the controller, runners, the writer, the API). Senders and receivers
 * import these; nobody types the wire again. Subjects, streams and buckets: `subjects.ts`.
 *
 * Types and constants only (and {@link isFlatRow}, the one rule for reading an event's inputs
 * that senders and the host must share); no dependencies but the SDK's types.
 * @module
 */
import type { CellValue, FeatureStatsMap, JsonValue, MonitoringMetric, MonitoringResult } from '@modelwatch/sdk';

/** Version of the JSON messages and records that carry `v`: raised when one changes incompatibly. */
export const PROTOCOL_VERSION = 1;
export type ProtocolVersion = typeof PROTOCOL_VERSION;

// ---------------------------------------------------------------------------------------------
// Headers

/** Headers of messages on `mw.events.<name>` (NATS headers; HTTP ingest sets them for its senders). */
export const HeaderNames = {
  /** The message belongs to a batch of historical events: its value is the batch id ({@link BATCH_ID}). */
  batch: 'Mw-Batch',
  /** The message ends a batch (its value: the batch id; the body is ignored). */
  batchEnd: 'Mw-Batch-End',
  /** Where a message came from ({@link EventSource}); NATS publishers need not set it. */
  source: 'Mw-Source',
  /** A replayed dead letter: the sequence in `MW_DLQ` of the letter it replays. */
  replayOf: 'Mw-Replay-Of',
  /**
   * The SHA-256 (hex) of the HTTP request body whose events a message carries, on the messages
   * of a request with an `Idempotency-Key` (or a batch id): a request that reuses the key with
   * another body is told apart from a retry by it.
   */
  bodyHash: 'Mw-Body-Sha256',
} as const;

/** Values of the `Mw-Source` header (a message without it came over NATS: `nats`). */
export type EventSource = 'http' | 'nats' | 'tracker' | 'replay';

/** A batch id: what `Mw-Batch` and `Mw-Batch-End` carry. */
export const BATCH_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** An endpoint name: a token of `mw.events.<name>` and a key of `mw_endpoints`. */
export const ENDPOINT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

// ---------------------------------------------------------------------------------------------
// Errors

/** Stable codes of the errors that cross a process or the sandbox. */
export type ErrorCode =
  | 'INVALID_OPTIONS'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  /** An `Idempotency-Key` (or a batch id) given again within the duplicate window with another body: HTTP 422. */
  | 'IDEMPOTENCY_KEY_REUSED'
  | 'NATS_SERVER_NOT_FOUND'
  | 'NATS_SERVER_FAILED'
  | 'PLUGIN_BUILD_FAILED'
  | 'PLUGIN_INVALID_MANIFEST'
  | 'PLUGIN_LOAD_FAILED'
  | 'PLUGIN_DRY_RUN_FAILED'
  | 'UNKNOWN_BUILTIN'
  | 'APP_ERROR'
  | 'APP_TIMEOUT'
  | 'APP_MEMORY_LIMIT'
  | 'APP_INVALID_OUTPUT'
  | 'INVALID_EVENT'
  | 'INVALID_REFERENCE'
  | 'WINDOW_FAILED'
  | 'HTTP_ERROR'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'BODY_TOO_LARGE'
  /** A write failed for lack of disk space (ENOSPC, JetStream's insufficient resources): HTTP 503. */
  | 'STORAGE_FULL'
  /** A reply larger than NATS' max payload: ask for less. */
  | 'REPLY_TOO_LARGE'
  | 'INTERNAL';

/** Plain data for an error that crosses a process or the sandbox. */
export interface ErrorData {
  code: ErrorCode;
  message: string;
  /** The plugin's stack, mapped to its sources (file:line:column), for errors it threw. */
  stack?: string;
}

// ---------------------------------------------------------------------------------------------
// Inference events: `mw.events.<endpoint name>` (stream MW_EVENTS), `POST /api/v1/endpoints/{name}/events`

/**
 * The smallest sampling percentage an event or a request batch may give (1 row kept in 100,000):
 * a row then stands for 100,000 predictions at most, so one event cannot make the estimated
 * predictions of an endpoint absurd.
 */
export const MIN_SAMPLING_PERCENTAGE = 0.001;

/** The longest latency an event may give, in µs (an hour): one event cannot skew an endpoint's latencies past it. */
export const MAX_LATENCY_MICROS = 3_600_000_000;

/**
 * The longest request id an event may give, in characters (`requestId`, a columnar batch's
 * `requestIds[i]`, MLRun's `request.id`): a longer one is refused.
 */
export const MAX_REQUEST_ID_LENGTH = 256;
/**
 * The longest request id a label may give: a row's id, `<requestId>#<row>`, which the host makes
 * for the rows of a multi-row request (a `#` and up to 15 digits past {@link MAX_REQUEST_ID_LENGTH}).
 */
export const MAX_ROW_ID_LENGTH = MAX_REQUEST_ID_LENGTH + 16;

/** The latest time a JavaScript `Date` holds, either way from the epoch (ms; the year 275760): the most any time the host takes may be. */
export const MAX_TIME_MS = 8.64e15;

/**
 * The native inference event. `POST /api/v1/endpoints/{name}/events` and the NATS subject
 * `mw.events.<name>` take one of these or an array of them (the same subject and route also
 * take MLRun's event and the columnar micro-batch, told apart automatically: see {@link EventMessage}).
 *
 * @example
 * ```json
 * { "when": "2026-11-27T10:00:00.000Z", "inputs": [[5.1, 3.5, 1.4, 0.2]], "outputs": [0], "requestId": "r-1", "latencyMicros": 850 }
 * ```
 */
export interface InferenceEvent {
  /** Event time: ISO 8601, MLRun's `YYYY-MM-DD HH:MM:SS.ffffff` (UTC), or ms since the epoch. Default: arrival time. */
  when?: string | number;
  /** Rows: arrays in feature order, or objects keyed by feature name; or one row written flat (a list of values, as MLRun reads it: {@link isFlatRow}). */
  inputs: Array<CellValue[] | Record<string, CellValue>> | CellValue[];
  /** One prediction per row: a scalar or an array (several outputs). */
  outputs?: unknown;
  /** The request's id (ground truth joins on it), at most {@link MAX_REQUEST_ID_LENGTH} characters. */
  requestId?: string;
  /** The request's latency in µs, 0 to {@link MAX_LATENCY_MICROS}. */
  latencyMicros?: number;
  labels?: Record<string, string>;
  /** The request failed: counted as an error request, its rows (if any) are not analysed. */
  error?: unknown;
  /** The share of requests the sender kept (MLRun's sampling), {@link MIN_SAMPLING_PERCENTAGE} <= p <= 100. @default 100 */
  samplingPercentage?: number;
}

/**
 * MLRun's inference event, exactly as its serving functions push it to the monitoring stream.
 *
 * @example
 * ```json
 * { "class": "ClassifierModel", "model": "churn:latest", "function_uri": "proj/serving",
 *   "request": { "id": "r-1", "inputs": [[42, 55000.0, 3]] }, "op": "infer",
 *   "resp": { "id": "r-1", "model_name": "churn", "outputs": [0.12] },
 *   "when": "2024-01-01 10:00:00.123456+00:00", "microsec": 1234 }
 * ```
 */
export interface MlrunEvent {
  request: { id?: string; inputs: unknown[] };
  resp?: { id?: string; outputs: unknown };
  when: string;
  microsec: number;
  error?: unknown;
  sampling_percentage?: number;
  effective_sample_count?: number;
  labels?: Record<string, unknown>;
}

/**
 * MLRun's batched form, what its serving functions push when `stream_batch > 1`: one MLRun
 * event per row of `values`, its fields named by `headers` (other fields apply to every row).
 */
export interface MlrunEventBatch {
  headers: string[];
  values: unknown[][];
  [field: string]: unknown;
}

/**
 * The compact columnar micro-batch: many rows in one message, one list per column, which is
 * the cheapest format to send and to process. `inputs`/`outputs` are keyed by feature/output
 * name (or lists of columns in the endpoint's order). `when`, `requestIds` and
 * `latencyMicros` are one value for all rows or one per row. Each row is one request unless
 * `requests` says otherwise.
 *
 * @example
 * ```json
 * { "format": "columnar", "when": 1795797600000,
 *   "inputs": { "age": [42, 37, 51], "income": [55000, 61000, null] },
 *   "outputs": { "churned": [0.12, 0.4, 0.9] }, "requestIds": ["a", "b", "c"], "latencyMicros": [850, 910, 700] }
 * ```
 */
export interface ColumnarBatch {
  format: 'columnar';
  when?: string | number | Array<string | number>;
  inputs: Record<string, CellValue[]> | CellValue[][];
  outputs?: Record<string, CellValue[]> | CellValue[][] | CellValue[];
  requestIds?: Array<string | null>;
  latencyMicros?: number | Array<number | null>;
  samplingPercentage?: number;
  requests?: { count: number; errors?: number; latencyMicros?: number[]; dropped?: number };
}

/** What a request batch says of every request it stands for, sampled or not. */
export interface RequestCounts {
  count: number;
  errors?: number;
  /** Latencies of the requests that have one (µs). */
  latencyMicros?: number[];
  /** Requests the sender could not deliver (dropped while NATS was unreachable). */
  dropped?: number;
  /** Earliest and latest event time of the requests (ms). */
  firstWhen?: number;
  lastWhen?: number;
  /** MLRun's names, for the record: the host counts the rows it accepts itself. */
  effectiveSampleCount?: number;
  estimatedPredictionCount?: number;
}

/**
 * A batch of requests as the tracker (`@modelwatch/tracker`) sends it: the events it sampled
 * (native or MLRun), and, for every request it tracked (sampled or not), the count, errors and
 * latencies, so the host reports request counts and latencies of all traffic and estimates
 * predictions from the sample (rows * 100 / samplingPercentage).
 *
 * @example
 * ```json
 * { "format": "batch", "samplingPercentage": 10,
 *   "requests": { "count": 250, "errors": 2, "latencyMicros": [850, 910], "dropped": 0, "firstWhen": 1795797600000, "lastWhen": 1795797600990 },
 *   "events": [{ "when": 1795797600123, "inputs": [[42, 55000]], "outputs": [0.12], "requestId": "r-17" }] }
 * ```
 */
export interface RequestBatch {
  format: 'batch';
  samplingPercentage?: number;
  requests: RequestCounts;
  events: unknown[];
}

/**
 * The body of a message on `mw.events.<name>` (or of an ingest request), in any format. The
 * formats with a `format` field are told apart by it; the others by their shape (MLRun's by
 * its `request`, its batched form by `headers` and `values`, an array is one event per item).
 */
export type EventMessage = InferenceEvent | InferenceEvent[] | MlrunEvent | MlrunEvent[] | MlrunEventBatch | ColumnarBatch | RequestBatch;

/**
 * Whether the inputs of an inference request are a single row written flat: a non-empty list
 * of scalars (numbers, strings, booleans, null) rather than a list of rows. MLRun's serving
 * (up to 1.7) pushes a request made from one dict that way (`"inputs": [5.1, 3.5, 1.4, 0.2]`),
 * and MLRun's stream processor reads it as one row: a list is a list of rows only when each
 * of its items is a row. So `[5.1]` is one row of one value, and rows of a one-feature model
 * are written `[[5.1], [4.9]]`. A list that holds both rows and scalars is a list of rows (and
 * its scalars are refused as rows).
 *
 * @example
 * ```ts
 * isFlatRow([5.1, 3.5, 1.4, 0.2]); // true: one row
 * isFlatRow([[5.1, 3.5], [4.9, 3.0]]); // false: two rows
 * isFlatRow([{ a: 1 }]); // false: one row, as an object
 * ```
 */
export function isFlatRow(inputs: readonly unknown[]): boolean {
  if (inputs.length === 0) return false;
  for (const v of inputs) if (typeof v === 'object' && v !== null) return false;
  return true;
}

/**
 * Ground truth for one prediction, sent after it: to `POST /api/v1/endpoints/{name}/labels`
 * or the NATS subject `mw.labels.<name>` (one or an array).
 *
 * @example
 * ```json
 * { "requestId": "r-1", "labels": { "churned": 1 } }
 * { "requestId": "r-2", "label": 0 }
 * ```
 */
export interface GroundTruthEvent {
  /** The request id of the prediction (for a multi-row request, `<id>#<row index>`). */
  requestId: string;
  /** Output name -> true value. */
  labels?: Record<string, CellValue>;
  /** The true value, for an endpoint with one output. */
  label?: CellValue;
}

// ---------------------------------------------------------------------------------------------
// Dead letters: `mw.dlq.<endpoint name>.<reason code>` (stream MW_DLQ)

/** Why an input was dead-lettered. */
export type DeadLetterCode =
  | 'INVALID_JSON'
  | 'INVALID_EVENT'
  | 'UNKNOWN_ENDPOINT'
  | 'FUTURE_EVENT'
  | 'LATE_EVENT'
  | 'OVERSIZED'
  | 'INVALID_BATCH'
  /** An app output the writer could not decode or that is not a valid output (letters of `_outputs`). */
  | 'INVALID_OUTPUT'
  /** A serving report or interval that could not be decoded (letters of `_serving`). */
  | 'INVALID_SERVING'
  /** A task a runner could not decode (letters of `_tasks`). */
  | 'INVALID_TASK'
  /** A message its consumer failed on at every delivery, up to the consumer's max deliveries. */
  | 'MAX_DELIVERIES';

export const DEAD_LETTER_CODES: readonly DeadLetterCode[] = [
  'INVALID_JSON',
  'INVALID_EVENT',
  'UNKNOWN_ENDPOINT',
  'FUTURE_EVENT',
  'LATE_EVENT',
  'OVERSIZED',
  'INVALID_BATCH',
  'INVALID_OUTPUT',
  'INVALID_SERVING',
  'INVALID_TASK',
  'MAX_DELIVERIES',
];

/**
 * The `endpoint` of letters that are not events: messages of a stream between components that
 * their consumer could not decode, or gave up on after its max deliveries. Endpoint names begin
 * with a letter or digit, so these never clash with one; such letters are never replayed.
 */
export const DEAD_LETTER_STAGES = {
  /** `MW_OUTPUTS`, consumer `writer`. */
  outputs: '_outputs',
  /** `MW_SERVING`, consumers `serving-aggregator` and `writer-serving`. */
  serving: '_serving',
  /** `MW_TASKS`, consumer `runners`. */
  tasks: '_tasks',
} as const;

/** A dead letter, on `mw.dlq.<endpointName>.<code>` (`_unknown` when the name is not valid). */
export interface DeadLetter {
  endpoint: string;
  reason: { code: DeadLetterCode | string; message: string };
  /** Where it came from: `http`, `nats`, `tracker`. */
  source: string;
  receivedAt: number;
  /** The payload, as UTF-8 text when it is, else base64 (see `payloadScope`). */
  payload: string;
  payloadEncoding: 'utf8' | 'base64';
  /**
   * `message`: the payload is the whole message as received (with `index`: only the event at
   * that position of it was bad); `event`: the payload is the bad event alone (what the HTTP
   * API rejects, and the late rows of a columnar batch). Replay sends only the bad event.
   * @default 'message'
   */
  payloadScope?: 'message' | 'event';
  /** Index of the event within an array payload (or the NDJSON line), when one event of several was bad. */
  index?: number;
  /** Size of the original payload; the stored one is cut at 1 MiB (`truncated`). */
  payloadBytes?: number;
  truncated?: boolean;
  /** Sequence of the message in MW_EVENTS, for letters the stream processor wrote. */
  eventSeq?: number;
  /** Rows of the bad event, when known (late rows are counted this way). */
  rows?: number;
  /** The batch the event belonged to (`Mw-Batch`). */
  batch?: string;
  /** For letters of a stage ({@link DEAD_LETTER_STAGES}): where the message was, and how often it was delivered. */
  origin?: { stream: string; consumer: string; subject: string; seq: number; deliveries: number };
}

/** A dead letter as listed: its sequence in MW_DLQ, when it was stored, and its subject. */
export interface StoredDeadLetter extends DeadLetter {
  seq: number;
  time: string;
  subject: string;
}

// ---------------------------------------------------------------------------------------------
// Rows: `mw.rows.<endpoint id>.<window start ms>` (stream MW_ROWS)

/** Rows of one event or more, ready to store. Row-major, columns in the endpoint's order. */
export interface Rows {
  ts: number[];
  x: CellValue[][];
  y: CellValue[][];
  rid: Array<string | null>;
  lat: Array<number | null>;
}

/** The rows of one event (or batch) that fall in one window, row-major: version 1 of `MW_ROWS`, and what a reader decodes a binary chunk into. */
export interface RowBatch extends Rows {
  v: ProtocolVersion;
  /** Per column (features then outputs): values of the wrong type among these rows, made missing; absent when none. */
  wrongType?: number[];
}

/**
 * The compact row format of `MW_ROWS` (version 2): a binary message per window chunk.
 *
 * ```
 * "MWR2" | u32 LE header length | header JSON (RowChunkHeader) | zero padding to 8 bytes | float64 LE data
 * ```
 * The data holds the timestamps (unless `tr`), the latencies when `lat` (unless `lr`), then
 * each numeric column (`num`): `n` float64 each, NaN for missing.
 */
export const ROWS_MAGIC = 0x3252574d; // "MWR2" little-endian

/** The header of a binary row chunk (see {@link ROWS_MAGIC}). A reader that does not know `w` reads the rows the same. */
export interface RowChunkHeader {
  /** Rows. */
  n: number;
  /**
   * The parts as `[eventSeq, offset, count, ...]`: which rows came from which `MW_EVENTS`
   * message, so a reader drops a part it has already seen (a redelivered event never counts
   * twice, however the stream processor batched it).
   */
  e: number[];
  /** Feature and output columns. */
  nx: number;
  ny: number;
  /** Indices (features then outputs) of the numeric columns, whose values are in the data. */
  num: number[];
  /** The other columns, as JSON lists, by index. */
  str: Record<string, CellValue[]>;
  /** Request ids. */
  rid?: Array<string | null>;
  /** The data holds latencies (or `lr` does). */
  lat?: boolean;
  /** Timestamps run-length encoded, `[value, count, ...]` (micro-batches with one time for many rows). */
  tr?: Array<number | null>;
  /** Latencies run-length encoded, null for missing. */
  lr?: Array<number | null>;
  /** Values of the wrong type (made missing) per part, as `[part index, column index, count, ...]`, so they are dropped with their part. */
  w?: number[];
}

// ---------------------------------------------------------------------------------------------
// Tasks and outputs: `mw.tasks.<app>` (MW_TASKS), `mw.outputs.<endpoint id>` (MW_OUTPUTS)

/** One window of one endpoint for one version of an app: what a task and its output share. */
export interface WindowRef {
  v: ProtocolVersion;
  endpointId: string;
  endpointName: string;
  app: string;
  version: string;
  windowStart: number;
  windowEnd: number;
  /**
   * The window is analysed by the plugin's shadow version (`PluginRecord.shadow`), beside the
   * active one: its output is stored apart, never shipped under the active series, never alerts.
   */
  shadow?: true;
}

/** `mw.tasks.<app>`: analyse one window of one endpoint with one version of an app. Also the request of `mw.svc.runner.evaluate`. */
export interface TaskMessage extends WindowRef {
  dispatchedAt: number;
  /**
   * The window starts of the `MW_ROWS` subjects to read, when not just `windowStart`: after a
   * period change, rows of this window may be filed under the old layout's windows that overlap
   * it. The runner keeps the rows whose time is in `[windowStart, windowEnd)`.
   */
  rowKeys?: number[];
  /**
   * The parts (messages) stored under each subject the runner reads (`rowKeys`, or just
   * `windowStart`), in that order, as the controller listed them when it dispatched the closed
   * window: the runner reads that many without asking `MW_ROWS` for the count. Optional: a task
   * without it (an older controller's) has the runner ask for the count, as before.
   */
  rowParts?: number[];
  /**
   * The output binding: an HMAC the controller computes with the host's key (KV `mw_secrets`,
   * readable by host roles only) over the window's identity (`outputBinding` in the host's
   * `domain/binding.ts`). The runner echoes it in the window's output and in the output's message
   * id; the writer stores an output only when it verifies, so a client that may publish outputs
   * cannot forge one for a window it was not given.
   */
  binding?: string;
}

export type WindowOutcome = 'ok' | 'empty' | 'error';

/** `mw.outputs.<endpointId>`: what an app made of one window, for the writer. */
export interface AppOutputMessage extends WindowRef {
  outcome: WindowOutcome;
  /** Rows in the window. */
  rows: number;
  results: MonitoringResult[];
  metrics: MonitoringMetric[];
  error?: ErrorData;
  /** Time in the sandbox. */
  durationMs: number;
  completedAt: number;
  runner: string;
  /** Which try produced this outcome (1 = the first). */
  attempts?: number;
  /** The artifacts the app attached (`ctx.logArtifact`), stored in `mw_artifacts` before this output was published. */
  artifacts?: ArtifactRef[];
  /** The task's {@link TaskMessage.binding}, echoed: the writer refuses an output whose binding does not verify. */
  binding?: string;
  /**
   * The window's profile (its per-feature statistics, categories capped to the top 50 plus
   * `other`), when the runner read rows for it: the writer stores it once per endpoint and window
   * (`WindowProfile`), not in the window's record.
   */
  profile?: FeatureStatsMap;
}

/**
 * The writer's notice on `mw.stored.<endpoint id>` that a window was stored (not sent for a
 * duplicate): the stored output without its binding. A window that a newer output replaces is
 * noticed again.
 */
/**
 * On `mw.purges.<endpoint id>` (stream MW_OUTPUTS): remove everything stored of the endpoint.
 * Published by the API at `endpoint delete --purge`, after which the outputs before it are purged
 * from the stream; each writer applies it when its consumer reaches it (a writer down at the time,
 * at its catch-up). Applying it again removes nothing more.
 */
export interface EndpointPurgeMessage {
  v: ProtocolVersion;
  endpointId: string;
  endpointName: string;
  /** When the API asked (ms since the epoch). */
  at: number;
}

export interface WindowStoredMessage {
  v: ProtocolVersion;
  /** When the writer stored it (ms since the epoch). */
  storedAt: number;
  output: AppOutputMessage;
}

/** An artifact of a window, as its output names it. */
export interface ArtifactRef {
  /** `<app>.<window start ms>.<name>`: unique within its endpoint. */
  id: string;
  name: string;
  contentType: string;
  /** In bytes. */
  size: number;
}

/** An artifact as listed (`GET /api/v1/endpoints/:name/artifacts`), from its object's metadata in `mw_artifacts`. */
export interface ArtifactInfo extends ArtifactRef {
  endpoint: string;
  app: string;
  version: string;
  windowStart: number;
  windowEnd: number;
  /** When it was stored (ms since the epoch). */
  storedAt: number;
}

/** A plugin log line (`ctx.logger`), as stored on `mw.logs.<app>` (MW_LOGS). */
export interface PluginLogLine {
  time: number;
  level: 'debug' | 'info' | 'warn' | 'error';
  plugin: string;
  version: string;
  endpoint: string;
  windowStart: number;
  message: string;
  fields?: string;
}

// ---------------------------------------------------------------------------------------------
// Runner services (request/reply, queue group `runners`) and runner processes

/** Resource limits of a plugin, from its manifest with defaults filled in. */
export interface PluginLimits {
  memoryMb: number;
  timeoutMs: number;
  extraDataBytes: number;
  /** Largest artifact (`ctx.logArtifact`), in bytes (absent in versions published before artifacts: 1 MiB). */
  artifactBytes?: number;
  /** All the artifacts of one window together, in bytes (absent in versions published before artifacts: 4 MiB). */
  windowArtifactBytes?: number;
}

/** A bundle to load in a runner's sandbox, as the API sends it before a version is registered. */
export interface BundleRequest {
  name: string;
  version: string;
  code: string;
  map?: string;
  limits?: Partial<PluginLimits>;
  isolation?: 'window' | 'version';
}

/** What `mw.svc.runner.check` takes: a bundle to load and check, without running it. */
export type CheckRequest = BundleRequest;
export type CheckReply = { ok: true } | { ok: false; error: ErrorData };

/** What `mw.svc.runner.dry-run` takes: a bundle to run once on a synthetic window of each endpoint. */
export interface DryRunRequest extends BundleRequest {
  config: Record<string, JsonValue>;
  referenceRows: boolean;
  groundTruth: boolean;
  /** Endpoint names, in the order to run them. */
  endpoints: string[];
  windowStart: number;
  windowEnd: number;
}

/** What the app made of the synthetic window of one endpoint. */
export interface DryRunResult {
  endpoint: string;
  /** `skipped`: not run (see `reason`). */
  outcome: 'ok' | 'error' | 'skipped';
  rows: number;
  durationMs: number;
  /** Results and metrics the app returned (`ok`). */
  results?: number;
  metrics?: number;
  /** What went wrong (`error`): the message names the file and line in the plugin's sources; `stack` is the mapped stack. */
  error?: ErrorData;
  reason?: string;
}

export type DryRunReply = { ok: true; endpoints: DryRunResult[] } | { ok: false; error: ErrorData };

/** What `mw.svc.runner.evaluate` answers for a {@link TaskMessage}: the output, not stored. */
export type EvaluateReply = { ok: true; output: AppOutputMessage } | { ok: false; error: ErrorData };

/** Starts the stderr line a runner writes when a plugin crashes V8 (its supervisor reads it). */
export const CRASH_MARKER = 'MODELWATCH_CRASH ';

/**
 * What follows {@link CRASH_MARKER}; also what the supervisor publishes on `mw.runner.crashed`
 * (crashes at publish) and stores in `mw_poison` (key: the window key).
 */
export interface CrashReport {
  app: string;
  version: string;
  message: string;
  window: { endpointId: string; endpointName: string; windowStart: number; windowEnd: number; shadow?: true } | null;
  /** The crash happened in the check or the dry run at publish (a synthetic window): no stored window is concerned. */
  atPublish?: boolean;
  /**
   * The other windows the runner was working on when it died: they did nothing wrong, and their
   * lost delivery is not counted as one of their attempts (the supervisor counts it with the
   * deliveries handed back unrun).
   */
  bystanders?: LostWindow[];
}

/** A window whose delivery was lost with its runner, which another window crashed (`CrashReport.bystanders`). */
export interface LostWindow {
  endpointId: string;
  app: string;
  version: string;
  windowStart: number;
  shadow?: true;
}

/** What a runner process tells its supervisor over the IPC channel. */
export type RunnerProcessMessage = {
  type: 'ready';
  /** The subject it answers pings on (`mw.svc.runner.ping.<id>`). */
  ping: string;
};

// ---------------------------------------------------------------------------------------------
// Results: `mw.svc.results.query` (the writer answers from LevelDB)

export interface ResultsQuery {
  endpointId?: string;
  app?: string;
  /** Only windows starting at or after this (ms). */
  since?: number;
  /** Newest windows first, at most this many. @default 10000 */
  limit?: number;
  /** The windows of shadow versions (LevelDB sublevel `h`) instead of the active versions'. */
  shadow?: boolean;
  /**
   * Only the windows after this one in the query's order: the page after a reply's `next`. A reply
   * holds as many windows as fit NATS' max payload; the API asks for the pages until there is no
   * `next`. A window's place, not a count: windows stored between two pages (newer, so first in
   * the order) neither repeat nor push others out of the next page.
   */
  after?: WindowCursor;
}

/** Where a window stands in a results query's order: newest first, then by endpoint name, app and version. */
export interface WindowCursor {
  windowStart: number;
  endpointName: string;
  app: string;
  version: string;
}

/** One analysed window of one app, with everything it produced. LevelDB key `w/<endpointId>/<app>/<windowStart>`; a shadow version's `h/<endpointId>/<app>/<version>/<windowStart>`. */
export interface WindowRecord extends Omit<AppOutputMessage, 'v' | 'attempts' | 'binding'> {
  /** Which try produced this outcome (1 = the first). */
  attempts: number;
  storedAt: number;
}

/** The latest value of a result. LevelDB key `l/<endpointId>/<app>/<result>`. */
export interface LatestResult extends MonitoringResult {
  endpointId: string;
  endpointName: string;
  app: string;
  version: string;
  windowStart: number;
  windowEnd: number;
}

/**
 * A result or metric an endpoint has, as MLRun's `get_model_endpoint_monitoring_metrics` lists
 * them: `fullName` is `<app>.result.<name>` or `<app>.metric.<name>`.
 */
export interface MetricName {
  fullName: string;
  app: string;
  type: 'result' | 'metric';
  name: string;
  /** Windows that hold it, and the first and last of them (window starts, ms). */
  windows: number;
  first: number;
  last: number;
}

/** One value of a result or metric: the window's start and end, and for results their kind and status. */
export interface MetricPoint {
  fullName: string;
  windowStart: number;
  windowEnd: number;
  value: number;
  kind?: number;
  status?: number;
}

/** Values of an endpoint's results and metrics over `[from, to)` (window starts), by name, one page. */
export interface MetricValuesQuery {
  endpointId: string;
  /** Full names (`<app>.result.<name>`, `<app>.metric.<name>`); every one when absent. */
  names?: string[];
  from?: number;
  to?: number;
  /** Points on the page. @default 1000 */
  limit?: number;
  /** The `next` of the page before. */
  after?: string;
}

/** One point of a series: `[window start, value, status]` (status null for a metric). */
export type SeriesPoint = [number, number, number | null];

/**
 * One result's or metric's values over `[from, to)` (window starts) of a live endpoint, cut to at
 * most `points` by the writer (min/max and first detected window per bucket), from its series
 * index (LevelDB `v/<endpointId>/<app>/<r|m>/<name>/<window start>`).
 */
export interface SeriesQuery {
  endpointId: string;
  app: string;
  type: 'result' | 'metric';
  name: string;
  from?: number;
  to?: number;
  /** At most this many points. */
  points: number;
}

/** A series: the windows in the range (`total`, before downsampling) and the points kept, oldest first. */
export interface SeriesPage {
  total: number;
  points: SeriesPoint[];
}

/**
 * `mw.svc.results.query`: windows, or with `latest` the latest value of each result; the names
 * of an endpoint's results and metrics (`metricNames`), their values (`metricValues`), or the
 * removal of everything stored of an endpoint (`purge`).
 */
export type ResultsRequest =
  | (ResultsQuery & { latest?: boolean })
  | { metricNames: { endpointId: string } }
  | { metricValues: MetricValuesQuery }
  | { series: SeriesQuery }
  | { purge: { endpointId: string } }
  | { profiles: ProfilesQuery }
  | { rollups: RollupsQuery }
  | { window: { endpointId: string; windowStart: number } };

/** The resolution of stored profiles and results: each window's own, or their hourly and daily roll-ups (UTC). */
export type ProfileResolution = 'window' | 'hour' | 'day';

/**
 * The per-feature statistics of one window of an endpoint (`resolution` 'window', the default),
 * or of the windows starting in one hour or day merged (`resolution` 'hour' / 'day';
 * `windowStart`/`windowEnd` are then the hour's or day's bounds). Kept after the window's rows
 * have expired from the stream, for as long as the retention of its resolution. Numeric
 * statistics of a column without values (count 0) are null in JSON. In roll-ups, counts,
 * missing, wrongType, histograms (on equal edges), mean, std, min and max are exact; quantiles are
 * the count-weighted means of the windows' quantiles (approximate); `unique` is a lower bound.
 * LevelDB key `p/<endpointId>/<w|h|d>/<windowStart>`.
 */
export interface WindowProfile {
  v: 1;
  endpoint: string;
  endpointId: string;
  windowStart: number;
  windowEnd: number;
  /** Rows in the window (in a roll-up: the windows' rows summed). */
  rows: number;
  features: FeatureStatsMap;
  resolution?: ProfileResolution;
  /** In a roll-up: the windows merged into it. */
  windows?: number;
}

/** `mw.retention.expired`: what one run of the writer's retention removed, and the starts before which it removed it. */
export interface RetentionExpiredMessage {
  v: ProtocolVersion;
  at: number;
  before: { window: number; hour: number; day: number };
  /** Windows (shadow versions' too). */
  windows: number;
  /** Profiles: windows' and hourly and daily roll-ups. */
  profiles: number;
  /** Hourly and daily roll-ups of results. */
  rollups: number;
}

/** Profiles of an endpoint whose windows start in `[from, to)` (roll-ups: whose hour or day overlaps it), oldest first; a reply over NATS' max payload ends early with `next` (the `from` of the rest). */
export interface ProfilesQuery {
  endpointId: string;
  from?: number;
  to?: number;
  /** @default 'window' */
  resolution?: ProfileResolution;
  /** @default 1000 */
  limit?: number;
}

/** One result or metric of an app rolled up over an hour or a day: worst status, and mean/min/max of the values. */
export interface RolledUpValue {
  name: string;
  /** Result kind; absent for a metric. */
  kind?: number;
  /** The worst status (the highest) of the windows; absent for a metric. */
  status?: number;
  windows: number;
  mean: number;
  min: number;
  max: number;
}

/** The results and metrics of one app over one hour or day (UTC). LevelDB key `r/<endpointId>/<h|d>/<app>/<start>`. */
export interface ResultsRollup {
  endpointId: string;
  endpointName: string;
  app: string;
  resolution: 'hour' | 'day';
  /** The hour's or day's bounds (ms). */
  start: number;
  end: number;
  /** Windows merged, by outcome. */
  windows: number;
  errors: number;
  results: RolledUpValue[];
  metrics: RolledUpValue[];
}

/** Roll-ups of an endpoint's results whose hour or day overlaps `[from, to)`, oldest first. */
export interface RollupsQuery {
  endpointId: string;
  resolution: 'hour' | 'day';
  app?: string;
  from?: number;
  to?: number;
  /** @default 1000 */
  limit?: number;
}
/** What `purge` removed from the writer's store: windows (batches' too), latest values, serving intervals. */
export interface PurgedResults {
  windows: number;
  latest: number;
  servingIntervals: number;
  /** Window profiles and their hourly and daily roll-ups. */
  profiles?: number;
  /** Hourly and daily roll-ups of results. */
  rollups?: number;
}
/**
 * A failed request: its reason, and a code when the host has one (`STORAGE_FULL`,
 * `REPLY_TOO_LARGE`, `INVALID_ARGUMENT`...).
 */
export interface ErrorReply {
  error: string;
  code?: ErrorCode;
}

export type ResultsReply =
  /**
   * A page of windows. `next` (the last window of the page) when there are more, with `writer`,
   * the writer that answered: ask it for them (`Subjects.resultsQueryOf(writer)`), as another
   * writer's store (behind or ahead of this one) may hold other windows.
   */
  | { windows: WindowRecord[]; next?: WindowCursor; writer?: string }
  | { latest: LatestResult[] }
  | { metricNames: MetricName[] }
  | { points: MetricPoint[]; next?: string }
  | { series: SeriesPage }
  | { purged: PurgedResults }
  | { profiles: WindowProfile[]; next?: number }
  | { rollups: ResultsRollup[] }
  | { window: { windows: WindowRecord[]; profile: WindowProfile | null } }
  | ErrorReply;

// ---------------------------------------------------------------------------------------------
// Serving metrics: `mw.serving.part`, `mw.serving.minute.<endpoint id>` (MW_SERVING), `mw.svc.serving.*`

/**
 * What the stream processor saw of one event message, for serving metrics:
 * `[seq, intervalStart, endpoint index (-1: no endpoint), requests, errors, rows,
 * estimated predictions, late rows, first event time, last event time, dropped, latencies as
 * run-length pairs [value, count, ...]]`. The event times are those of the requests it took (rows
 * filed, row-less events; a request batch's own `firstWhen`/`lastWhen`), `null` when none: late
 * rows and refused events never move an endpoint's first and last request.
 */
export type ServingEntry = [number, number, number, number, number, number, number, number, number | null, number | null, number, number[]];

/** `mw.serving.part`: one per batch of event messages the stream processor handled. */
export interface ServingPartMessage {
  v: ProtocolVersion;
  /** Interval length the starts are aligned to. */
  intervalMs: number;
  /** `[endpoint id, endpoint name]`, indexed by the entries. */
  eps: Array<[string, string]>;
  ev: ServingEntry[];
}

/** Serving counters of one endpoint over some time. */
export interface ServingCounts {
  requests: number;
  errors: number;
  /** Rows (predictions) received. */
  predictions: number;
  /** Predictions the model made, estimated from sampled events: rows * 100 / sampling percentage. */
  estimatedPredictions: number;
  /** Rows that arrived after their window closed (dead-lettered as LATE_EVENT). */
  lateRows: number;
  /** Requests the tracker could not deliver. */
  dropped: number;
  latencyCount: number;
  latencySum: number;
  /** Event time of the first and last request (ms), of the requests taken: a late row's or a refused event's time never counts. */
  firstRequest: number | null;
  lastRequest: number | null;
}

/** `mw.serving.minute.<endpointId>`: serving metrics of one endpoint for one closed interval (a minute by default). */
export interface ServingMinuteMessage extends ServingCounts {
  v: ProtocolVersion;
  endpointId: string;
  endpointName: string;
  /** Start of the interval (arrival time, ms) and its length. */
  start: number;
  intervalMs: number;
  latencyAvg: number | null;
  latencyP50: number | null;
  latencyP99: number | null;
  latencyMin: number | null;
  latencyMax: number | null;
  closedAt: number;
}

/** `mw.svc.serving.live` reply: counters of the intervals not closed yet, per endpoint id. */
export interface ServingLiveReply {
  open: Record<string, ServingCounts & { endpointName: string }>;
}

/** Serving metrics of one endpoint and interval, as the writer stores them. LevelDB key `s/<endpointId>/<start>`. */
export type ServingRecord = ServingMinuteMessage & { storedAt: number };

/**
 * What the writer keeps up to date per endpoint. LevelDB key `e/<endpointId>`: serving totals
 * over every closed interval, the last interval, and when each result status was last seen
 * (for the drift status: the worst status of the last 24 hours).
 */
export interface EndpointStatsRecord extends ServingCounts {
  endpointId: string;
  endpointName: string;
  /** Result status (-1..2) -> end of the newest window that had a result with it. */
  statusSeen: Record<string, number>;
  /**
   * Windows of the endpoint with rows and at least one app's output stored (live windows, not
   * batches or shadows), kept as they are stored and expire; absent in a store older than the count.
   */
  windowsAnalysed?: number;
  /** App -> the outcome of its newest stored window that was not empty (`ok` or `error`), and that window's start. */
  lastOutcomes?: Record<string, { windowStart: number; outcome: AppOutputMessage['outcome'] }>;
  lastInterval?: Pick<
    ServingMinuteMessage,
    'start' | 'intervalMs' | 'requests' | 'errors' | 'latencyAvg' | 'latencyP50' | 'latencyP99' | 'estimatedPredictions'
  >;
  updatedAt: number;
}

/** `mw.svc.serving.query`: serving statistics per endpoint, or one endpoint's intervals. */
export type ServingRequest = { stats: { endpointIds?: string[] } } | { intervals: { endpointId: string; since?: number; limit?: number } };
export type ServingReply = { stats: EndpointStatsRecord[] } | { intervals: ServingRecord[] } | ErrorReply;

// ---------------------------------------------------------------------------------------------
// Records in KV buckets and object stores, read by several processes

/** An endpoint as stored in the `mw_endpoints` bucket (key: its name). */
export interface EndpointRecord {
  /** SHA-1 of the name, hex (MLRun derives ids the same way). */
  id: string;
  name: string;
  featureNames: string[];
  labelNames: string[];
  /** Reference statistics from training data; `{}` until a reference is set. */
  featureStats: FeatureStatsMap;
  /** When the reference was last set (ms); its rows are `<id>.json` in the reference store. */
  referenceRevision?: number;
  /** Rows of the reference data. */
  referenceRowCount?: number;
  /** Whether windows of this endpoint are analysed. */
  monitoring: boolean;
  /** The model served behind the endpoint (MLRun's `model_name`). */
  modelName?: string;
  /** Its version (MLRun's `model_tag`). */
  modelVersion?: string;
  /** `key=value` tags (MLRun's endpoint labels), which selectors pick endpoints by. */
  tags?: Record<string, string>;
  createdAt: number;
  updatedAt: number;
}

/** Training data, columnar: `<endpoint id>.json` in the `mw_references` object store. */
export interface ReferenceTable {
  columns: string[];
  values: Record<string, CellValue[]>;
  rows: number;
}

/** One published version of a plugin. Its bundle is `<name>@<version>.js` in the bundle store. */
export interface PluginVersionRecord {
  version: string;
  description: string;
  /** sha256 of the bundle. */
  digest: string;
  publishedAt: number;
  limits: PluginLimits;
  config: Record<string, JsonValue>;
  /** Call the app for windows with no rows. */
  runOnEmptyWindows: boolean;
  /** Give the app the reference rows as `ctx.reference`. */
  referenceRows: boolean;
  /** Give the app `ctx.groundTruth`, analysing each window this long after it closes so labels can arrive. */
  groundTruthDelayMs?: number;
  /** `window`: a fresh context per window; `version`: one context kept across windows. */
  isolation?: 'window' | 'version';
  /** JSON Schema that `config` must satisfy (`configSchema` in plugin.json). */
  configSchema?: Record<string, JsonValue>;
  /** Endpoint names, globs or `selector:<tag selector>` entries this version applies to (`endpoints` in plugin.json); absent: every endpoint. */
  endpoints?: string[];
}

/** The prefix of a plugin.json `endpoints` entry that is a tag selector (`selector:team=fraud,env in (prod,staging)`), not a name or glob. */
export const SELECTOR_PREFIX = 'selector:';

/** `active`: its windows are analysed; `disabled` by a user; `quarantined` after failing too many windows in a row. */
export type PluginStatus = 'active' | 'disabled' | 'quarantined';

/** The last window a plugin failed. */
export interface PluginFailure {
  code: string;
  message: string;
  stack?: string;
  version: string;
  endpoint: string;
  windowStart: number;
  at: number;
}

/**
 * A version run beside the active one on the same live windows (`plugin publish --shadow`): its
 * outputs are stored apart, marked `shadow`, and compared with the active version's.
 */
export interface ShadowRecord {
  version: string;
  /** Windows that start at or after this (the next window after it was published) get a shadow task. */
  since: number;
  /** The last window the shadow failed (never the plugin's `lastError`). */
  lastError?: PluginFailure;
}

/** A plugin as stored in the `mw_plugins` bucket (key: its name). */
export interface PluginRecord {
  name: string;
  activeVersion: string;
  status: PluginStatus;
  /** Why it is disabled or quarantined. */
  statusReason?: string;
  lastError?: PluginFailure;
  createdAt: number;
  updatedAt: number;
  /** In publish order. */
  versions: PluginVersionRecord[];
  /** The shadow version, when one runs beside the active one. */
  shadow?: ShadowRecord;
  /** The last shadow dropped for failing (quarantine of a shadow), and why. */
  droppedShadow?: { version: string; reason: string; at: number };
}

/** From `fromMs` on (until the next segment), windows are `periodMs` long, aligned to `fromMs`. */
export interface PeriodSegment {
  fromMs: number;
  periodMs: number;
}

/**
 * A period change, kept so that rows filed by the layout before it are still found. The stream
 * processor files a row by the layout in force when its event *arrived*: an event that arrived
 * before `arrivalsFrom` goes by `before` (event times can be up to the allowed future skew ahead,
 * so such rows reach past the boundary), one that arrived later by the new layout. Every
 * processing of an event therefore files its rows under the same window keys, and readers of
 * the new windows that begin before `untilMs` also read the old keys that overlap them.
 */
export interface PeriodChange {
  /** The first window boundary of the new layout: windows that begin earlier keep their bounds. */
  fromMs: number;
  /** Events that arrived (JetStream time) before this are filed by `before`. */
  arrivalsFrom: number;
  /** Rows filed by `before` have event times before this: `arrivalsFrom` plus the allowed future skew. */
  untilMs: number;
  /** The segments in force before the change, from the one holding `fromMs` on. */
  before: PeriodSegment[];
}

/** Monitoring settings, key `monitoring` (`SETTINGS_KEY`) of the `mw_settings` bucket. */
export interface MonitoringSettings {
  enabled: boolean;
  /** Window lengths over time; the first starts at 0 (windows align to the epoch). */
  periods: PeriodSegment[];
  /** Period changes whose old layout may still hold rows (see `PeriodChange`), oldest first. */
  changes?: PeriodChange[];
  updatedAt: number;
}

/** A batch of historical events, key `<endpoint name>.<batch id>` of the `mw_batches` bucket. */
export interface BatchRecord {
  endpoint: string;
  endpointId: string;
  batchId: string;
  /** Sequence of the end marker in MW_EVENTS: the batch is complete when the processor is past it. */
  endSeq: number;
  status: 'ingested' | 'dispatched';
  createdAt: number;
  /** Windows dispatched (per app), when dispatched. */
  windows?: number;
  /** The apps its windows were dispatched to, each for every window (when dispatched): the batch is analysed once each has stored them all. */
  apps?: string[];
  rows?: number;
  dispatchedAt?: number;
}

/**
 * What one window means for its version's failure streak: `f` the app was called and failed,
 * `o` it was called and succeeded, `-` it was not called, or not known to be (an empty window, a
 * window the app does not apply to, an endpoint or version that no longer exists, a window whose
 * every delivery was lost with its runner): neither counts nor resets.
 */
export type WindowMark = 'f' | 'o' | '-';

/** A window as the streak sees it: [start, end, mark]. */
export type MarkedWindow = [start: number, end: number, mark: WindowMark];

/**
 * The failure streak of one plugin version on one endpoint, as stored in `mw_streaks` (key
 * `<app>.<version>.<endpoint id>`). Windows are accounted in window order whatever order their
 * outputs arrive in: `[from, next)` is the run of back-to-back windows accounted so far, and
 * windows that arrived out of order wait in `pending` until the windows between have come.
 */
export interface StreakRecord {
  v: ProtocolVersion;
  /** Start of the earliest window accounted. */
  from: number;
  /** End of the latest window accounted in order: the start of the one to account next. */
  next: number;
  /** Called windows that failed in a row, up to `next`. */
  streak: number;
  /** Called windows that failed in a row from `from` on: windows found later just before `from` extend this run. */
  lead: number;
  /** No called window since `from` succeeded (then `lead` and `streak` are the same run). */
  unbroken: boolean;
  /** The streak at which this key last quarantined the version (0: it has not since its last success). */
  quarantinedAt: number;
  /** Windows that arrived ahead of `next` or behind `from`, sorted by start; at most 256 (`MAX_PENDING`). */
  pending: MarkedWindow[];
}

// ---------------------------------------------------------------------------------------------
// API tokens (KV `mw_tokens`) and the audit log (stream `MW_AUDIT`)

/**
 * What a token may do on the HTTP API: `ingest` posts events and labels (to the endpoints its
 * `endpoints` glob matches, when it has one), `read` every GET, `write` endpoints, monitoring,
 * plugin configuration, references, dead-letter replays and batches, `admin` everything
 * (publishing and removing plugins, tokens, the audit log).
 */
export type TokenScope = 'ingest' | 'read' | 'write' | 'admin';

/** The scopes, in the order they are shown. */
export const TOKEN_SCOPES: readonly TokenScope[] = ['ingest', 'read', 'write', 'admin'];

/**
 * An API token as stored in `mw_tokens` (key: its name). The token itself is never stored:
 * only the hex SHA-256 of its text.
 */
export interface TokenRecord {
  v: ProtocolVersion;
  name: string;
  /** Hex SHA-256 of the token's text. */
  hash: string;
  scopes: TokenScope[];
  /** For `ingest`: the endpoints it may post to, a glob of names (`fraud-*`); absent: every endpoint. */
  endpoints?: string;
  createdAt: number;
  /** The name of the token that created it; absent for the bootstrap admin token. */
  createdBy?: string;
}

/**
 * One state change asked of the HTTP API, as the audit log keeps it (`mw.audit.api`, stream
 * `MW_AUDIT`): who (the token's name; `null` when no known token was given, the request was
 * then refused), what (method, route pattern and the path asked for), when, and the status answered.
 */
export interface AuditEntry {
  v: ProtocolVersion;
  /** When the answer was sent, ms since the epoch. */
  at: number;
  /** The token's name; `null` without a known token; `'insecure-local'` on a host run with `--insecure-local`. */
  token: string | null;
  method: string;
  /** The route's pattern, e.g. `/api/v1/plugins/:name/disable`. */
  route: string;
  /** The path asked for, e.g. `/api/v1/plugins/drift/disable` (without its query string). */
  target: string;
  /** The HTTP status answered. */
  status: number;
  /** The client's address. */
  ip: string;
}
