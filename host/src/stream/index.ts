export { StreamProcessor, type StreamProcessorDeps } from './processor.js';
export { appendEventRows, emptyRows, inferNames, parseWhen, InvalidEventError, type InferenceEvent, type Rows } from './events.js';
export { publishDeadLetter, payloadText, type DeadLetter } from './dlq.js';
export { normalizeLabel, type GroundTruthEvent, type NormalizedLabel } from './labels.js';
