/**
 * `@modelwatch/sdk`: what a monitoring app imports.
 *
 * @example
 * ```ts
 * import { MonitoringApplication, ResultKind, ResultStatus } from '@modelwatch/sdk';
 * ```
 * @module
 */
export { MonitoringApplication } from './application.js';
export {
  ResultKind,
  ResultStatus,
  resultKindName,
  resultStatusName,
  type AppOutput,
  type ArtifactOptions,
  type CategoricalFeatureStats,
  type CellValue,
  type EndpointInfo,
  type FeatureStats,
  type FeatureStatsMap,
  type GroundTruth,
  type Histogram,
  type JsonValue,
  type Logger,
  type MonitoringContext,
  type MonitoringMetric,
  type MonitoringResult,
  type NumericFeatureStats,
  type Sample,
} from './types.js';
export { DEFAULT_EXTRA_DATA_BYTES, jsonByteLength } from './output.js';
export { describeValue, readConfig, type ConfigReader } from './config.js';
export { InvalidOutputError, ModelwatchSdkError, isInvalidOutputError, type SdkErrorCode } from './errors.js';
