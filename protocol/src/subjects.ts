/**
 * Streams, subjects, buckets: the wiring between components. Everything a component
 * needs from another travels through these (see ARCHITECTURE.md).
 */
export const Streams = {
  /** Inference events as model servers send them: `mw.events.<endpointName>`. */
  events: 'MW_EVENTS',
  /** Validated rows, by endpoint and window: `mw.rows.<endpointId>.<windowStartMs>`. */
  rows: 'MW_ROWS',
  /** Work for app runners: `mw.tasks.<app>` (work queue). */
  tasks: 'MW_TASKS',
  /** App outputs for the writer: `mw.outputs.<endpointId>`. */
  outputs: 'MW_OUTPUTS',
  /**
   * Each plugin's window slots, across every runner: `mw.slots.<app>.<active|shadow>`, a token
   * message per slot, taken by a runner for each window it runs (consumer `slots-<app>-<kind>`).
   */
  slots: 'MW_SLOTS',
  /** Rejected input with its reason: `mw.dlq.<endpointName>.<reason code>`. */
  dlq: 'MW_DLQ',
  /** Serving metrics: `mw.serving.part` (per batch of events, stream processor -> aggregator), `mw.serving.minute.<endpointId>` (closed intervals -> writer). */
  serving: 'MW_SERVING',
  /** Ground truth that arrives after the predictions: `mw.labels.<endpointName>`. */
  labels: 'MW_LABELS',
  /** Plugins' log lines: `mw.logs.<app>`. */
  logs: 'MW_LOGS',
  /** The audit log of state changes asked of the HTTP API: `mw.audit.api`. */
  audit: 'MW_AUDIT',
  /**
   * Alert notifications and their deliveries (the notifier's outbox): `mw.alerts.notify` (one
   * `AlertNotification`, message id = its key), `mw.alerts.deliver.<channel>` (one per routed channel,
   * message id `<key>|<channel>`), each channel read by its own durable consumer.
   */
  alerts: 'MW_ALERTS',
  /** Every delivery attempt of an alert notification: `mw.alerts.attempts.<channel>` (`modelwatch alert history`). */
  alertAttempts: 'MW_ALERT_ATTEMPTS',
} as const;

export const Subjects = {
  events: (endpointName: string) => `mw.events.${endpointName}`,
  eventsAll: 'mw.events.>',
  rows: (endpointId: string, windowStartMs: number) => `mw.rows.${endpointId}.${windowStartMs}`,
  rowsAll: 'mw.rows.>',
  tasks: (app: string) => `mw.tasks.${app}`,
  tasksAll: 'mw.tasks.>',
  outputs: (endpointId: string) => `mw.outputs.${endpointId}`,
  outputsAll: 'mw.outputs.>',
  /**
   * An endpoint's purge, in MW_OUTPUTS among its outputs ({@link EndpointPurgeMessage}): every
   * writer's consumer reads it in order and removes what its store holds of the endpoint. Only the
   * host role may publish it.
   */
  purges: (endpointId: string) => `mw.purges.${endpointId}`,
  purgesAll: 'mw.purges.>',
  /** A plugin's slot tokens (stream MW_SLOTS): `kind` is `active` or `shadow` (a shadow version's share of its own). */
  slots: (app: string, kind: 'active' | 'shadow') => `mw.slots.${app}.${kind}`,
  slotsAll: 'mw.slots.>',
  dlq: (endpointName: string, code: string) => `mw.dlq.${endpointName}.${code}`,
  dlqAll: 'mw.dlq.>',
  labels: (endpointName: string) => `mw.labels.${endpointName}`,
  labelsAll: 'mw.labels.>',
  logs: (app: string) => `mw.logs.${app}`,
  logsAll: 'mw.logs.>',
  /**
   * Core NATS (not a stream): the writer's notice that a window was stored ({@link WindowStoredMessage}),
   * published after its LevelDB batch. For live views; a notice can be missed (no subscriber, a
   * disconnect), so whoever must see every window reads the results, not these.
   */
  stored: (endpointId: string) => `mw.stored.${endpointId}`,
  storedAll: 'mw.stored.>',
  /** Core NATS: the writer's notice after each retention run that removed anything ({@link RetentionExpiredMessage}). */
  retentionExpired: 'mw.retention.expired',
  /** One audit entry per state change asked of the HTTP API (`AuditEntry`). */
  auditApi: 'mw.audit.api',
  auditAll: 'mw.audit.>',
  /** A notification stored for routing (stream MW_ALERTS). */
  alertNotify: 'mw.alerts.notify',
  /** One notification's delivery to one channel (stream MW_ALERTS). */
  alertDeliver: (channel: string) => `mw.alerts.deliver.${channel}`,
  alertsAll: 'mw.alerts.>',
  /** One delivery attempt, recorded (stream MW_ALERT_ATTEMPTS). */
  alertAttempts: (channel: string) => `mw.alert-attempts.${channel}`,
  alertAttemptsAll: 'mw.alert-attempts.>',
  /** Request/reply: a runner analyses one window without storing it (queue group `runners`). */
  runnerEvaluate: 'mw.svc.runner.evaluate',
  servingAll: 'mw.serving.>',
  /** What the stream processor saw in one batch of events (serving metrics, late rows). */
  servingPart: 'mw.serving.part',
  /** Serving metrics of one endpoint for one closed interval. */
  servingMinute: (endpointId: string) => `mw.serving.minute.${endpointId}`,
  servingMinuteAll: 'mw.serving.minute.>',
  /** Request/reply: the serving aggregator answers with its open (not yet closed) intervals. */
  servingLive: 'mw.svc.serving.live',
  /** Request/reply: the writer answers serving statistics and minutes. */
  servingQuery: 'mw.svc.serving.query',
  /** Request/reply: the writer answers result queries. */
  resultsQuery: 'mw.svc.results.query',
  /**
   * Request/reply: one writer alone answers (`writer` of its reply to a query on `resultsQuery`):
   * the later pages of a query go to the writer that answered its first, whose store they continue.
   */
  resultsQueryOf: (writer: string) => `mw.svc.results.query.${writer}`,
  /** Request/reply: a runner checks that a bundle loads and default-exports a MonitoringApplication with doTracking (queue group `runners`). */
  runnerCheck: 'mw.svc.runner.check',
  /** Request/reply: a runner dry-runs a bundle on synthetic windows of endpoints (queue group `runners`). */
  runnerDryRun: 'mw.svc.runner.dry-run',
  /** A supervisor's report of a runner a bundle being published crashed (its CrashReport): the API stops waiting for that runner. */
  runnerCrashed: 'mw.runner.crashed',
  /** Request/reply: one runner answers that it is connected (its supervisor's readiness check). */
  runnerPing: (runnerId: string) => `mw.svc.runner.ping.${runnerId}`,
  /** Request/replies: every runner answers (no queue group): how many runners the deployment has (the `runnersBelow` alert rule). */
  runnerRollCall: 'mw.svc.runner.roll-call',
} as const;

export const Buckets = {
  /** Endpoint records by name. */
  endpoints: 'mw_endpoints',
  /** Plugin records by name. */
  plugins: 'mw_plugins',
  /** Monitoring settings (key `monitoring`). */
  settings: 'mw_settings',
  /** Controller progress: next window per (endpoint id, app). */
  controller: 'mw_controller',
  /** Windows whose plugin crashed its runner: recorded as failed, never run again (key: window key). */
  poison: 'mw_poison',
  /**
   * Deliveries of a task a runner handed back without running it, because it already ran as many
   * windows of that plugin as it may at once (key: window key): not attempts of the window.
   */
  deferrals: 'mw_deferrals',
  /** Batches of historical events, key `<endpoint name>.<batch id>`: ingested, then dispatched. */
  batches: 'mw_batches',
  /** Failure streaks per plugin version and endpoint, key `<app>.<version>.<endpoint id>`, counted in window order by the writer. */
  streaks: 'mw_streaks',
  /** API tokens by name: their SHA-256 hashes and scopes, never the tokens. */
  tokens: 'mw_tokens',
  /** The host's secrets, readable by host roles only: key `output-binding`, the key of the output binding (`TaskMessage.binding`). */
  secrets: 'mw_secrets',
  /** Alert notification channels made through the API, by name (secrets as given: literal or `${ENV_VAR}` references; reads redact them). */
  alertChannels: 'mw_alert_channels',
  /**
   * The notifier's settled deliveries, key `<channel>.<first 40 hex of the SHA-256 of the
   * notification's key>`: `{ key, outcome: 'sent' | 'given-up', at }`, kept for the retention. A
   * delivery NATS hands out again after it was settled is settled again, never sent again.
   */
  alertSent: 'mw_alert_sent',
  /** Alert rules made through the API, by rule name (rules of `--alerts FILE` are not stored: the file is their source). */
  alertRules: 'mw_alert_rules',
  /** Alerts by id: active, acknowledged and resolved (the history), with the windows that caused them. */
  alerts: 'mw_alerts',
  /** The alert evaluator's state per series (rule, endpoint, app, result), by its hash: breaches of the last windows, the open alert. */
  alertSeries: 'mw_alert_series',
  /** Silences by id: a rule or an endpoint muted until a time. */
  alertSilences: 'mw_alert_silences',
  /**
   * Leases of the roles of which one process is active at a time (key `controller`): the holder's
   * node id and expiry, renewed by compare-and-set (`host/src/nats/lease.ts`).
   */
  leases: 'mw_leases',
} as const;

/** The key of the output binding's key in the `mw_secrets` bucket. */
export const OUTPUT_BINDING_KEY = 'output-binding';

/** The key of the monitoring settings in the `mw_settings` bucket. */
export const SETTINGS_KEY = 'monitoring';

/** Object store of plugin bundles: `<name>@<version>.js` and `.js.map`. */
export const BUNDLE_STORE = 'mw_bundles';

/** Object store of reference data (training rows, columnar JSON): `<endpointId>.json`. */
export const REFERENCE_STORE = 'mw_references';

/**
 * Object store of the artifacts apps attach to windows (`ctx.logArtifact`), kept for the
 * retention: `<endpoint id>/<app>/<window start ms>/<artifact name>`.
 */
export const ARTIFACT_STORE = 'mw_artifacts';

export const Consumers = {
  stream: 'stream-processor',
  runners: 'runners',
  writer: 'writer',
  serving: 'serving-aggregator',
  writerServing: 'writer-serving',
  /** The notifier's router of `mw.alerts.notify`; each channel's deliveries have a consumer `alert-deliver-<channel>`. */
  alertRouter: 'alert-router',
  /** The alert evaluator's durable consumer on `MW_OUTPUTS` (acked once the alert states are stored). */
  alerts: 'alert-evaluator',
} as const;
