export { Streams, Subjects, Buckets as BucketNames, BUNDLE_STORE, REFERENCE_STORE, ARTIFACT_STORE, Consumers } from '@modelwatch/protocol';
export { ensureTopology, openBuckets, type Buckets, type TopologyOptions } from './topology.js';
export { startNatsServer, freePort, type NatsServerHandle, type NatsServerOptions } from './server.js';
export { jsonCodec } from './codec.js';
export { decodeRowBatch, rowCount, RowsChunk, SeenRows, type RowSource } from './rows.js';
export { isNotFound, isNoResponders, isTimeout } from './errors.js';
