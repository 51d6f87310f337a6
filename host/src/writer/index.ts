export { Writer, type WriterDeps } from './writer.js';
