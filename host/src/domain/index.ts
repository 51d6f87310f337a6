/**
 * The host's domain: pure rules and arithmetic, no I/O, imported by every layer above it.
 * @module
 */
export * from './windows.js';
export { addCounts, emptyCounts } from './counts.js';
export { dict } from './dict.js';
export { batchSeriesId, outputKey, shadowWindowKey, windowKey } from './keys.js';
export { checkEndpointName, checkNames, endpointId, FEATURE_NAME, RESERVED_OBJECT_NAMES, reservedNameReason } from './names.js';
export { normalizeLabel, type NormalizedLabel } from './labels.js';
export { parseReference, referenceStatsFor, tableOf, type ReferenceFormat } from './reference.js';
export { checkTags, matchesSelector, parseSelector, parseTagAssignments, type Requirement, type Selector } from './selector.js';
export { compileGlob, globMatcher, globMatches, globProblem, MAX_GLOB_LENGTH, type Glob } from './glob.js';
export { bucketOf, compactProfile, mergeFeatureStats, rollUpProfile, rollUpResults, TOP_CATEGORIES } from './profiles.js';
export { downsample } from './series.js';
export { isoTime, parseTime, readTime } from './time.js';
export { emptyOutput, failedOutput, windowOutput, type OutputSource, type OutputWindow } from './outputs.js';
