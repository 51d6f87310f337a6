export { StreamProcessor, type StreamProcessorDeps } from './processor.js';
export { appendEventRows, emptyRows, inferNames, parseWhen } from './events.js';
export { publishDeadLetter, payloadText } from './dlq.js';
