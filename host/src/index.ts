/**
 * `@modelwatch/host`: run a modelwatch host from code.
 * @module
 */
export { createHost, VERSION, type Host, type HostState } from './host.js';
export * from './config/index.js';
export { ModelwatchError, isModelwatchError, type ErrorCode, type ErrorData } from './errors.js';
export { createLogger, type Logger } from './logger.js';
export { startNatsServer, freePort, Streams, Subjects, type NatsServerHandle, type AppOutputMessage, type TaskMessage, type RowBatch } from './nats/index.js';
export { bundlePlugin, readManifest, resolveManifest, type PluginBundle, type PluginManifest, type ResolvedManifest } from './plugins/index.js';
export { AppRunner, PluginSandbox, type AppRunnerOptions } from './runner/index.js';
export type { EndpointRecord, PluginRecord, PluginVersionRecord, WindowRecord, LatestResult, MonitoringSettings } from './store/index.js';
export type { InferenceEvent, DeadLetter } from './stream/index.js';
export { windowAt, changePeriod, type PeriodSegment } from './controller/index.js';
export { ModelwatchClient, type ClientOptions } from './cli/client.js';
