/**
 * The worker-thread side of {@link BodyWorkers} (`body-workers.ts`): parses and checks a big
 * request body off the event loop. Its results are plain data; their byte arrays are moved
 * back, not copied, and errors come back as `{ error: { code, message } }`.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import type { ErrorCode } from '@modelwatch/protocol';
import { parseReference, prepareReference, type PreparedReference, type ReferenceFormat } from '../domain/reference.js';
import { isModelwatchError } from '../errors.js';
import { prepareIngest, type IngestInput, type PreparedIngest } from '../stream/ingest.js';

export type BodyTask =
  | { kind: 'ingest'; input: IngestInput }
  | {
      kind: 'reference';
      raw: Uint8Array;
      format: ReferenceFormat;
      endpoint: { featureNames: string[]; labelNames: string[] };
      maxFeatures?: number;
    };

export type BodyTaskResult<T> = { value: T } | { error: { code: ErrorCode; message: string } };

/** A byte array that owns its buffer alone, so moving it moves nothing else. */
function owned(a: Uint8Array): Uint8Array {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer ? a : new Uint8Array(a);
}

/** `value` with its byte arrays moved to the caller's thread. */
function moving<T>(value: T, arrays: Uint8Array[]): unknown {
  const buffers = [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
  return move({
    get [transferableSymbol]() {
      return buffers;
    },
    get [valueSymbol]() {
      return { value };
    },
  });
}

export default function run(task: BodyTask): unknown {
  try {
    if (task.kind === 'ingest') {
      const prepared: PreparedIngest = prepareIngest(task.input);
      prepared.payloads = prepared.payloads.map(owned);
      return moving(prepared, prepared.payloads);
    }
    const text = Buffer.from(task.raw.buffer, task.raw.byteOffset, task.raw.byteLength).toString('utf8');
    const prepared: PreparedReference = prepareReference(parseReference(text, task.format), task.endpoint, task.maxFeatures);
    prepared.encoded = owned(prepared.encoded);
    return moving(prepared, [prepared.encoded]);
  } catch (err) {
    if (isModelwatchError(err)) return { error: { code: err.code, message: err.message } } satisfies BodyTaskResult<never>;
    throw err;
  }
}
