/**
 * What the host shares with the SDK and apps never use: the validation of outputs, the mark of
 * the base class, the runtime's markers. Not an export path of `@modelwatch/sdk`: the host
 * reaches it by its workspace path (`host/src/sdk-internal.ts`), the SDK's own modules directly.
 * @internal
 */
export { NAME_PATTERN, normalizeAppOutput, UNSERIALIZABLE_PREFIX, describe, type NormalizeOutputOptions, type NormalizedOutput } from './output.js';
export { APPLICATION_MARK } from './application.js';
export {
  createContext,
  createGroundTruth,
  createLogger,
  createSample,
  type ColumnValues,
  type ContextParts,
  type GroundTruthSource,
  type LogLevel,
  type SampleSource,
} from './context.js';
export {
  ARTIFACT_NAME_PATTERN,
  CONTENT_TYPE_PATTERN,
  DEFAULT_ARTIFACT_LIMITS,
  MAX_ARTIFACTS_PER_WINDOW,
  createArtifactLog,
  type ArtifactLimits,
  type LoggedArtifact,
} from './artifacts.js';
