/**
 * The host's operator metrics (`GET /metrics`, Prometheus text format, prom-client).
 *
 * One {@link HostMetrics} per host, on a registry of its own (never prom-client's global one: a
 * process may run several hosts, as the tests do). Components get it as a dependency and record
 * what happened through its named operations; none imports prom-client, and every label is chosen
 * here: values that come from outside are bounded (reasons are the protocol's dead-letter codes,
 * apps are published plugins), and no metric has an endpoint label (see ARCHITECTURE.md,
 * "Operator metrics").
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DEAD_LETTER_CODES, type AppOutputMessage } from '@modelwatch/protocol';

/** The prefix of every metric name, the process metrics' too. */
export const METRIC_PREFIX = 'modelwatch_';

/** Window latency buckets, in seconds (window end to stored: at least the allowed lateness). */
const LATENCY_BUCKETS = [0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** What a durable consumer has yet to finish, read at scrape time. */
export interface ConsumerBacklog {
  stream: string;
  consumer: string;
  /** Messages not yet delivered (JetStream's `num_pending`). */
  pending: number;
  /** Messages delivered and not yet acknowledged (`num_ack_pending`). */
  ackPending: number;
}

/** Where the writer's errors happened (the `operation` label of `modelwatch_writer_errors_total`). */
export type WriterOperation = 'store' | 'account' | 'serving' | 'plugin-record' | 'outbox';

/**
 * The process metrics (CPU, memory, event loop lag, GC), once per process: they describe the
 * process, not a host, and prom-client's collectors (a GC observer, an event-loop monitor) are
 * never released, so each host merges this one registry into its scrape instead of starting its own.
 */
let processRegistry: Registry | undefined;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: METRIC_PREFIX });
  }
  return processRegistry;
}

const KNOWN_REASONS = new Set<string>(DEAD_LETTER_CODES);

/** A dead-letter reason as a label value: one of the protocol's codes, else `OTHER` (as the letter's subject names it). */
function reasonLabel(code: string): string {
  return KNOWN_REASONS.has(code) ? code : 'OTHER';
}

/** The metrics of one host, and the named operations that move them. */
export class HostMetrics {
  /** This host's metrics (without the process metrics, which {@link scrape} adds). */
  readonly registry = new Registry();
  private readonly exposed: Registry;
  private readonly eventsAcceptedTotal: Counter;
  private readonly eventsRejectedTotal: Counter<'reason'>;
  private readonly rowsTotal: Counter;
  private readonly deadLettersTotal: Counter<'reason'>;
  private readonly dispatchedTotal: Counter<'app'>;
  private readonly storedTotal: Counter<'app' | 'outcome'>;
  private readonly failedTotal: Counter<'app'>;
  private readonly latency: Histogram<'app'>;
  private readonly sandboxSeconds: Counter<'app'>;
  private readonly quarantinesTotal: Counter<'app'>;
  private readonly restartsTotal: Counter;
  private readonly writerErrorsTotal: Counter<'operation'>;
  private readonly tsdbErrorsTotal: Counter;
  private readonly tsdbPointsTotal: Counter;
  private readonly httpRefusedTotal: Counter;
  private runnerCount: (() => number) | undefined;
  private httpConnectionCount: (() => number) | undefined;
  /** The writer's last failure and whether its last TSDB write failed (what the system alert rules read). */
  private readonly health = { writerErrorAt: 0, writerOperation: '', tsdbFailing: false };
  private backlog: (() => Promise<ConsumerBacklog[]>) | undefined;

  constructor() {
    const registers = [this.registry];
    const p = METRIC_PREFIX;
    this.eventsAcceptedTotal = new Counter({
      name: `${p}events_accepted_total`,
      help: 'Events the stream processor filed into windows (HTTP and NATS alike).',
      registers,
    });
    this.eventsRejectedTotal = new Counter({
      name: `${p}events_rejected_total`,
      help: 'Events refused and dead-lettered, by reason (a message that could not be read as events counts once).',
      labelNames: ['reason'],
      registers,
    });
    this.rowsTotal = new Counter({ name: `${p}ingest_rows_total`, help: 'Rows filed into windows by the stream processor.', registers });
    this.deadLettersTotal = new Counter({
      name: `${p}dead_letters_total`,
      help: 'Dead letters written to MW_DLQ, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.dispatchedTotal = new Counter({
      name: `${p}windows_dispatched_total`,
      help: 'Window tasks the controller published, by app.',
      labelNames: ['app'],
      registers,
    });
    this.storedTotal = new Counter({
      name: `${p}windows_stored_total`,
      help: 'Windows the writer stored, by app and outcome (ok, empty, error).',
      labelNames: ['app', 'outcome'],
      registers,
    });
    this.failedTotal = new Counter({
      name: `${p}windows_failed_total`,
      help: 'Windows stored with an error outcome, by app.',
      labelNames: ['app'],
      registers,
    });
    this.latency = new Histogram({
      name: `${p}window_latency_seconds`,
      help: "From a live window's end to its output stored, by app.",
      labelNames: ['app'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.sandboxSeconds = new Counter({
      name: `${p}sandbox_seconds_total`,
      help: "Time apps spent in their sandbox on the stored windows (the runner's durationMs), by app.",
      labelNames: ['app'],
      registers,
    });
    this.quarantinesTotal = new Counter({
      name: `${p}quarantines_total`,
      help: 'Plugin versions quarantined (and shadow versions dropped) for failing windows in a row, by app.',
      labelNames: ['app'],
      registers,
    });
    this.restartsTotal = new Counter({ name: `${p}runner_restarts_total`, help: 'Runner processes restarted after they died.', registers });
    this.writerErrorsTotal = new Counter({
      name: `${p}writer_errors_total`,
      help: 'Failures of the writer (the message is redelivered), by operation.',
      labelNames: ['operation'],
      registers,
    });
    this.tsdbErrorsTotal = new Counter({ name: `${p}tsdb_errors_total`, help: 'Failed writes to the TSDB (the points stay in the outbox).', registers });
    this.tsdbPointsTotal = new Counter({ name: `${p}tsdb_points_total`, help: 'Points the TSDB accepted.', registers });
    this.httpRefusedTotal = new Counter({
      name: `${p}http_connections_refused_total`,
      help: 'HTTP connections closed as soon as accepted, because --http-max-connections were open.',
      registers,
    });
    const runners = () => this.runnerCount?.() ?? 0;
    const httpConnections = () => this.httpConnectionCount?.() ?? 0;
    const backlog = async () => (await this.backlog?.()) ?? [];
    new Gauge({
      name: `${p}runners`,
      help: 'Runner processes alive under this host.',
      registers,
      collect() {
        this.set(runners());
      },
    });
    new Gauge({
      name: `${p}http_connections`,
      help: "HTTP connections open to this host's API.",
      registers,
      collect() {
        this.set(httpConnections());
      },
    });
    new Gauge({
      name: `${p}stream_lag`,
      help: 'Messages a durable consumer has not finished: pending plus delivered and unacknowledged, by stream and consumer.',
      labelNames: ['stream', 'consumer'],
      registers,
      async collect() {
        this.reset();
        let all: ConsumerBacklog[];
        try {
          all = await backlog();
        } catch {
          // NATS unreachable: no series (their absence is what an alert sees)
          return;
        }
        for (const c of all) this.set({ stream: c.stream, consumer: c.consumer }, c.pending + c.ackPending);
      },
    });
    this.exposed = Registry.merge([this.registry, processMetrics()]);
  }

  /** The content type of {@link scrape}'s text. */
  get contentType(): string {
    return this.exposed.contentType;
  }

  /** Every metric, this host's and the process's, in Prometheus text format. */
  scrape(): Promise<string> {
    return this.exposed.metrics();
  }

  /** Where the runner count comes from (the supervisor's live processes). */
  observeRunners(count: () => number): void {
    this.runnerCount = count;
  }

  /** Where the count of open HTTP connections comes from (the API's server). */
  observeHttpConnections(count: () => number): void {
    this.httpConnectionCount = count;
  }

  /** An HTTP connection closed as soon as accepted: the cap of open connections was reached. */
  httpConnectionRefused(): void {
    this.httpRefusedTotal.inc();
  }

  /** Where the durable consumers' backlog comes from (JetStream consumer info, read at each scrape). */
  observeConsumers(read: () => Promise<ConsumerBacklog[]>): void {
    this.backlog = read;
  }

  /** Events filed into windows by the stream processor, and their rows. */
  eventsFiled(events: number, rows: number): void {
    if (events > 0) this.eventsAcceptedTotal.inc(events);
    if (rows > 0) this.rowsTotal.inc(rows);
  }

  /** A dead letter written; `refused`: it refuses an event (or a message), so the event is counted as rejected too. */
  deadLettered(code: string, refused: boolean): void {
    const reason = reasonLabel(code);
    this.deadLettersTotal.inc({ reason });
    if (refused) this.eventsRejectedTotal.inc({ reason });
  }

  /** Window tasks published. */
  windowsDispatched(tasks: ReadonlyArray<{ app: string }>): void {
    for (const t of tasks) this.dispatchedTotal.inc({ app: t.app });
  }

  /**
   * An output stored (not a duplicate): its outcome, sandbox time and, for a live window (a
   * batch's windows are past ones), the time from the window's end to `storedAt`.
   */
  windowStored(out: AppOutputMessage, storedAt: number, live: boolean): void {
    const app = out.app;
    this.storedTotal.inc({ app, outcome: out.outcome });
    if (out.outcome === 'error') this.failedTotal.inc({ app });
    if (out.durationMs > 0) this.sandboxSeconds.inc({ app }, out.durationMs / 1000);
    if (live) this.latency.observe({ app }, Math.max(0, storedAt - out.windowEnd) / 1000);
  }

  /** A plugin version quarantined (or a shadow version dropped). */
  quarantined(app: string): void {
    this.quarantinesTotal.inc({ app });
  }

  runnerRestarted(): void {
    this.restartsTotal.inc();
  }

  writerError(operation: WriterOperation): void {
    this.writerErrorsTotal.inc({ operation });
    this.health.writerErrorAt = Date.now();
    this.health.writerOperation = operation;
  }

  tsdbWritten(points: number): void {
    this.tsdbPointsTotal.inc(points);
    this.health.tsdbFailing = false;
  }

  tsdbError(): void {
    this.tsdbErrorsTotal.inc();
    this.health.tsdbFailing = true;
  }

  /** The writer's health: when it last failed (ms; 0: never) and at what, and whether its last TSDB write failed. */
  writerHealth(): Readonly<{ writerErrorAt: number; writerOperation: string; tsdbFailing: boolean }> {
    return { ...this.health };
  }
}

/** The metrics of a new host: its own registry; its scrape adds the process metrics (`modelwatch_process_*`, `modelwatch_nodejs_*`). */
export function createHostMetrics(): HostMetrics {
  return new HostMetrics();
}
