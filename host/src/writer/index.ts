export { Writer, type WriterDeps, type ResultsReply, type ResultsRequest } from './writer.js';
