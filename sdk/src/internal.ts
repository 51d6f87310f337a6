/**
 * Pieces the host shares with the SDK that are not part of the plugin-facing API.
 * @internal
 */
export { UNSERIALIZABLE_PREFIX, describe } from './output.js';
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
