/**
 * `@modelwatch/host`: run a modelwatch host from code.
 * @module
 */
export { createHost, VERSION, type Host, type HostState } from './host.js';
export * from './config/index.js';
export { systemClock, type Clock, type Timer } from './clock.js';
export {
  ModelwatchError,
  isModelwatchError,
  isRetryable,
  InvalidOptionsError,
  InvalidArgumentError,
  InvalidEventError,
  InvalidReferenceError,
  NotFoundError,
  ConflictError,
  NatsServerError,
  PluginError,
  AppError,
  HttpError,
  AuthError,
  InternalError,
  type ErrorCode,
  type ErrorData,
} from './errors.js';
export { createLogger, type Logger } from './logger.js';
export { METRIC_PREFIX, type HostMetrics, type ConsumerBacklog, type WriterOperation } from './metrics.js';
export { startNatsServer, freePort, Streams, Subjects, type NatsServerHandle } from './nats/index.js';
export { bundlePlugin, readManifest, resolveManifest, type PluginBundle, type PluginManifest, type ResolvedManifest } from './plugins/index.js';
export { AppRunner, PluginSandbox, type AppRunnerOptions } from './runner/index.js';
export { windowAt, changePeriod } from './domain/index.js';
export { ModelwatchClient, type ClientOptions, type SendEventsOptions } from './client/index.js';
// the wire's types, from @modelwatch/protocol
export type {
  AppOutputMessage,
  DeadLetter,
  EndpointRecord,
  InferenceEvent,
  LatestResult,
  MonitoringSettings,
  PeriodSegment,
  PluginRecord,
  PluginVersionRecord,
  RowBatch,
  TaskMessage,
  WindowRecord,
} from '@modelwatch/protocol';
