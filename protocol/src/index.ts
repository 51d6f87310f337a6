/**
 * `@modelwatch/protocol`: modelwatch's wire contract. The names of its streams, subjects,
 * buckets and consumers (`subjects.ts`), and every message, request/reply payload, stored record
 * and header its processes exchange (`protocol.ts`). Types and constants only: the host and
 * the tracker import it, it imports nothing but the SDK's types.
 * @module
 */
export * from './subjects.js';
export * from './protocol.js';
