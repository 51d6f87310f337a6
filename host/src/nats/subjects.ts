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
  /** Rejected input with its reason: `mw.dlq.<endpointName>`. */
  dlq: 'MW_DLQ',
  /** Ground truth that arrives after the predictions: `mw.labels.<endpointName>`. */
  labels: 'MW_LABELS',
  /** Plugins' log lines: `mw.logs.<app>`. */
  logs: 'MW_LOGS',
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
  dlq: (endpointName: string) => `mw.dlq.${endpointName}`,
  dlqAll: 'mw.dlq.>',
  labels: (endpointName: string) => `mw.labels.${endpointName}`,
  labelsAll: 'mw.labels.>',
  logs: (app: string) => `mw.logs.${app}`,
  logsAll: 'mw.logs.>',
  /** Request/reply: a runner analyses one window without storing it (queue group `runners`). */
  runnerEvaluate: 'mw.svc.runner.evaluate',
  /** Request/reply: the writer answers result queries. */
  resultsQuery: 'mw.svc.results.query',
  /** Request/reply: a runner smoke-runs a bundle (queue group `runners`). */
  runnerSmoke: 'mw.svc.runner.smoke',
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
} as const;

/** Object store of plugin bundles: `<name>@<version>.js` and `.js.map`. */
export const BUNDLE_STORE = 'mw_bundles';

/** Object store of reference data (training rows, columnar JSON): `<endpointId>.json`. */
export const REFERENCE_STORE = 'mw_references';

export const Consumers = {
  stream: 'stream-processor',
  runners: 'runners',
  writer: 'writer',
} as const;
