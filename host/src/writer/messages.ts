/**
 * The messages the writer consumes, decoded and checked before anything of them is stored: an
 * output or serving interval that is not valid JSON or not of the protocol's shape is refused
 * with the reason (the writer dead-letters it), never stored and never redelivered.
 */
import type { ErrorObject } from 'ajv';
import { ENDPOINT_NAME, Subjects, type AppOutputMessage, type EndpointPurgeMessage, type ServingMinuteMessage } from '@modelwatch/protocol';
import { verifyBinding, type BindingKey } from '../domain/binding.js';
import { jsonCodec } from '../nats/codec.js';
import { NAME_PATTERN } from '../sdk-internal.js';
import { ajvOnUse, checkOnUse } from '../schema-check.js';

/** An output or serving interval that cannot be stored: its reason is `message`. */
export class InvalidMessageError extends Error {
  override name = 'InvalidMessageError';
}

const ID = '^[A-Za-z0-9_-]{1,200}$';
const NUM = { type: 'number' } as const;
const INT = { type: 'integer' } as const;
const named = (extra: object) => ({
  type: 'object',
  required: ['name', 'value'],
  properties: { name: { type: 'string', pattern: NAME_PATTERN.source, maxLength: 256 }, value: NUM, ...extra },
});

const outputSchema = {
  type: 'object',
  required: ['v', 'endpointId', 'endpointName', 'app', 'version', 'windowStart', 'windowEnd', 'outcome', 'rows', 'results', 'metrics'],
  properties: {
    v: { const: 1 },
    endpointId: { type: 'string', pattern: ID },
    endpointName: { type: 'string', pattern: ENDPOINT_NAME.source },
    app: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,62}$' },
    version: { type: 'string', minLength: 1, maxLength: 128 },
    windowStart: INT,
    windowEnd: INT,
    shadow: { const: true },
    outcome: { enum: ['ok', 'empty', 'error'] },
    rows: { type: 'integer', minimum: 0 },
    results: { type: 'array', items: named({ kind: { type: 'integer', minimum: 0, maximum: 4 }, status: { type: 'integer', minimum: -1, maximum: 2 } }) },
    metrics: { type: 'array', items: named({}) },
    error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
    durationMs: NUM,
    completedAt: NUM,
    runner: { type: 'string' },
    attempts: { type: 'integer', minimum: 1 },
    artifacts: { type: 'array', items: { type: 'object', required: ['id', 'name'], properties: { id: { type: 'string' }, name: { type: 'string' } } } },
    // the window's profile: statistics per column, each numeric (with its histogram) or categorical
    profile: {
      type: 'object',
      maxProperties: 20_000,
      additionalProperties: {
        type: 'object',
        required: ['type', 'count', 'missing'],
        properties: {
          type: { enum: ['numeric', 'categorical'] },
          count: { type: 'integer', minimum: 0 },
          missing: { type: 'integer', minimum: 0 },
          hist: { type: 'object', required: ['counts', 'edges'], properties: { counts: { type: 'array' }, edges: { type: 'array' } } },
          frequencies: { type: 'object' },
        },
      },
    },
  },
} as const;

const servingSchema = {
  type: 'object',
  required: ['v', 'endpointId', 'endpointName', 'start', 'intervalMs', 'requests', 'errors'],
  properties: {
    v: { const: 1 },
    endpointId: { type: 'string', pattern: ID },
    endpointName: { type: 'string', pattern: ENDPOINT_NAME.source },
    start: INT,
    intervalMs: { type: 'integer', minimum: 1 },
    requests: NUM,
    errors: NUM,
  },
} as const;

const ajv = ajvOnUse({ allErrors: false, strict: false });
const checkOutput = checkOnUse<AppOutputMessage>(ajv, outputSchema);
const checkServing = checkOnUse<ServingMinuteMessage>(ajv, servingSchema);

const describe = (errors: ErrorObject[] | null | undefined) =>
  (errors ?? []).map((e) => `${e.instancePath || '(the message)'} ${e.message ?? 'is not valid'}`).join('; ');

function decode(data: Uint8Array, what: string): unknown {
  try {
    return jsonCodec.decode(data);
  } catch (err) {
    throw new InvalidMessageError(`${what} is not JSON: ${(err as Error).message}`);
  }
}

/** The output of a message on `mw.outputs.<endpoint id>`, or an {@link InvalidMessageError} naming what is wrong. */
export function decodeOutput(data: Uint8Array, subject: string): AppOutputMessage {
  const out = decode(data, 'the output');
  if (!checkOutput(out)) throw new InvalidMessageError(`not an app output: ${describe(checkOutput.errors)}`);
  if (subject !== Subjects.outputs(out.endpointId)) {
    throw new InvalidMessageError(`an output of endpoint id ${out.endpointId} published on ${subject}`);
  }
  if (out.windowEnd <= out.windowStart) throw new InvalidMessageError(`window end ${out.windowEnd} is not after its start ${out.windowStart}`);
  return out;
}

/**
 * An output as every path into the store takes it (the live writer, a rebuild from MW_OUTPUTS, a
 * reclaimed message): decoded and checked ({@link decodeOutput}), its binding verified when the
 * host has a binding key (`refused`: it does not verify: not the output of a dispatched task, never
 * stored), and stored without its binding.
 */
export function storableOutput(data: Uint8Array, subject: string, key: BindingKey | undefined): { out: AppOutputMessage; refused: boolean } {
  const { binding, ...out } = decodeOutput(data, subject);
  return { out, refused: key !== undefined && !verifyBinding(key, out, binding) };
}

/** The serving interval of a message on `mw.serving.minute.<endpoint id>`, or an {@link InvalidMessageError}. */
export function decodeServingMinute(data: Uint8Array, subject: string): ServingMinuteMessage {
  const m = decode(data, 'the serving interval');
  if (!checkServing(m)) throw new InvalidMessageError(`not a serving interval: ${describe(checkServing.errors)}`);
  if (subject !== Subjects.servingMinute(m.endpointId)) {
    throw new InvalidMessageError(`an interval of endpoint id ${m.endpointId} published on ${subject}`);
  }
  return m;
}

/** Whether a message of MW_OUTPUTS is an endpoint's purge (`mw.purges.<endpoint id>`), not an output. */
export function isPurgeSubject(subject: string): boolean {
  return subject.startsWith(Subjects.purges(''));
}

/** The purge of a message on `mw.purges.<endpoint id>`, or an {@link InvalidMessageError}. */
export function decodePurge(data: Uint8Array, subject: string): EndpointPurgeMessage {
  const m = decode(data, 'the purge') as Partial<EndpointPurgeMessage> | null;
  if (typeof m !== 'object' || m === null || typeof m.endpointId !== 'string' || m.endpointId === '') {
    throw new InvalidMessageError('not an endpoint purge: endpointId (a string) is missing');
  }
  if (subject !== Subjects.purges(m.endpointId)) throw new InvalidMessageError(`a purge of endpoint id ${m.endpointId} published on ${subject}`);
  return m as EndpointPurgeMessage;
}
