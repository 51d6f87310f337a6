/**
 * The API's request schemas (api/schemas.ts): what they accept and refuse, with the messages the
 * host answers; their properties match the contract's types; the client refuses a bad body
 * before any request.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import type {
  BatchQuery,
  ConfigurePluginBody,
  DeadLetterQuery,
  PublishPluginBody,
  ReplayRequest,
  ResultsQuery,
  RollbackBody,
  SetMonitoringBody,
} from '../src/api/contract.js';
import {
  BatchQuerySchema,
  ConfigurePluginBodySchema,
  CreateSilenceBodySchema,
  DeadLetterParamsSchema,
  DeadLetterQuerySchema,
  LatestQuerySchema,
  PublishPluginBodySchema,
  ReplayBodySchema,
  ResultsQuerySchema,
  RollbackBodySchema,
  ServingQuerySchema,
  SetMonitoringBodySchema,
  validator,
  type RequestPart,
} from '../src/api/schemas.js';
import { ModelwatchClient } from '../src/client/index.js';

/** The message a schema refuses `data` with, or `ok`. */
function outcome(schema: object, data: unknown, part: RequestPart = 'body'): string {
  try {
    validator(schema, part)(data);
    return 'ok';
  } catch (err) {
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
    return (err as Error).message;
  }
}

const BAD_NAME = `endpoint name "no spaces" is not valid: use 1-128 letters, digits, '_' or '-', starting with a letter or digit`;
const PUBLISH = 'body: expected { manifest, code, map?, config?, strict? }';
const CONFIGURE = 'body: expected { set: { key: value } } (merge) or { config: { ... } } (replace)';

describe('request schemas', () => {
  it.each<[string, object, unknown, string]>([
    ['silence', CreateSilenceBodySchema, { rule: 'drift', duration: '2h' }, 'ok'],
    ['silence', CreateSilenceBodySchema, { endpoint: 'churn-*', duration: '2h' }, 'ok'],
    ['silence', CreateSilenceBodySchema, { duration: '2h' }, 'body: a silence needs a rule, an endpoint or both'],
    ['silence', CreateSilenceBodySchema, { rule: 'drift' }, 'body: expected { rule?, endpoint?, duration, comment? }'],
    ['monitoring', SetMonitoringBodySchema, { enabled: true, basePeriod: '5s', defaultApp: 'drift' }, 'ok'],
    ['monitoring', SetMonitoringBodySchema, { basePeriod: 5000 }, 'ok'],
    ['monitoring', SetMonitoringBodySchema, undefined, 'ok'],
    ['monitoring', SetMonitoringBodySchema, { enabled: 'true' }, 'enabled: expected true or false'],
    ['monitoring', SetMonitoringBodySchema, { basePeriod: true }, 'basePeriod: expected a duration such as 5s or 10m'],
    ['monitoring', SetMonitoringBodySchema, { enabled: true, defaultApp: 7 }, 'defaultApp: expected the name of a built-in app, or "none", with enabled: true'],
    ['publish', PublishPluginBodySchema, { manifest: {}, code: 'x', strict: true, config: { k: 1 } }, 'ok'],
    ['publish', PublishPluginBodySchema, { manifest: {} }, PUBLISH],
    ['publish', PublishPluginBodySchema, { manifest: {}, code: 7 }, PUBLISH],
    ['publish', PublishPluginBodySchema, 'code', PUBLISH],
    ['publish', PublishPluginBodySchema, { manifest: {}, code: 'x', strict: 'yes' }, 'strict: expected true or false'],
    ['rollback', RollbackBodySchema, {}, 'ok'],
    ['rollback', RollbackBodySchema, { to: '1.0.0' }, 'ok'],
    ['rollback', RollbackBodySchema, { to: 1 }, 'to: expected a version string'],
    ['configure', ConfigurePluginBodySchema, { set: { threshold: 0.2 } }, 'ok'],
    ['configure', ConfigurePluginBodySchema, { config: {} }, 'ok'],
    ['configure', ConfigurePluginBodySchema, {}, CONFIGURE],
    ['configure', ConfigurePluginBodySchema, { set: {}, config: {} }, CONFIGURE],
    ['configure', ConfigurePluginBodySchema, { set: [1] }, CONFIGURE],
    ['configure', ConfigurePluginBodySchema, { config: 'x' }, CONFIGURE],
    ['replay', ReplayBodySchema, { endpoint: 'churn', includeLate: true }, 'ok'],
    ['replay', ReplayBodySchema, { seqs: [1, 2] }, 'ok'],
    ['replay', ReplayBodySchema, { seqs: [1, 0] }, 'seqs: expected a list of dead-letter sequences'],
    ['replay', ReplayBodySchema, { seqs: 3 }, 'seqs: expected a list of dead-letter sequences'],
    ['replay', ReplayBodySchema, { endpoint: 'no spaces' }, BAD_NAME],
  ])('a %s body %j: %s', (_what, schema, body, expected) => {
    expect(outcome(schema, body)).toBe(expected);
  });

  it.each<[string, object, Record<string, string>, string]>([
    ['dlq', DeadLetterQuerySchema, { endpoint: 'churn', reason: 'late', limit: '5' }, 'ok'],
    ['dlq', DeadLetterQuerySchema, { endpoint: '', limit: '' }, 'ok'],
    ['dlq', DeadLetterQuerySchema, { limit: 'abc' }, "limit: expected a positive whole number, got 'abc'"],
    ['dlq', DeadLetterQuerySchema, { limit: '-3' }, "limit: expected a positive whole number, got '-3'"],
    ['dlq', DeadLetterQuerySchema, { limit: '1.5' }, "limit: expected a positive whole number, got '1.5'"],
    ['dlq', DeadLetterQuerySchema, { endpoint: 'no spaces' }, BAD_NAME],
    ['dead letter', DeadLetterParamsSchema, { seq: '12' }, 'ok'],
    ['dead letter', DeadLetterParamsSchema, { seq: 'x' }, "'x' is not a dead-letter sequence"],
    ['dead letter', DeadLetterParamsSchema, { seq: '0' }, "'0' is not a dead-letter sequence"],
    ['batch', BatchQuerySchema, { id: 'backfill-2024_01' }, 'ok'],
    ['batch', BatchQuerySchema, { id: 'x!' }, "batch id 'x!' is not valid: use 1-64 letters, digits, '_' or '-'"],
    ['results', ResultsQuerySchema, { endpoint: 'churn', limit: '10', batch: 'b1', app: 'drift' }, 'ok'],
    ['results', ResultsQuerySchema, { limit: '0' }, "limit: expected a positive whole number, got '0'"],
    ['results', ResultsQuerySchema, { endpoint: '', batch: '' }, 'ok'],
    ['results', ResultsQuerySchema, { endpoint: 'churn', batch: 'a b' }, "batch id 'a b' is not valid: use 1-64 letters, digits, '_' or '-'"],
    ['serving', ServingQuerySchema, { since: '2026-01-01T00:00:00Z', limit: '60' }, 'ok'],
    ['serving', ServingQuerySchema, { limit: '' }, 'ok'],
    ['serving', ServingQuerySchema, { limit: '0' }, "limit: expected a positive whole number, got '0'"],
    ['serving', ServingQuerySchema, { limit: 'abc' }, "limit: expected a positive whole number, got 'abc'"],
    ['latest results', LatestQuerySchema, { endpoint: 'churn' }, 'ok'],
    ['latest results', LatestQuerySchema, { endpoint: 'no spaces' }, BAD_NAME],
  ])('a %s query %j: %s', (_what, schema, query, expected) => {
    expect(outcome(schema, { ...query }, 'text')).toBe(expected);
  });

  it('coerces a query string to the schema types, as the routes read it', () => {
    const q: Record<string, unknown> = { limit: '5' };
    validator(DeadLetterQuerySchema, 'text')(q);
    expect(q).toEqual({ limit: 5 });
    const p: Record<string, unknown> = { seq: '12' };
    validator(DeadLetterParamsSchema, 'text')(p);
    expect(p).toEqual({ seq: 12 });
  });

  it('bodies are not coerced: the JSON is checked as sent', () => {
    const body = { monitoring: 'true' };
    expect(body).toEqual({ monitoring: 'true' });
  });
});

/** The property names a schema declares. */
type SchemaKeys<S> = S extends { properties: infer P } ? keyof P : never;
type Keys<T> = T extends unknown ? keyof T : never;

describe('schemas and contract types', () => {
  it('declare the same fields', () => {
    expectTypeOf<SchemaKeys<typeof SetMonitoringBodySchema>>().toEqualTypeOf<keyof SetMonitoringBody>();
    expectTypeOf<SchemaKeys<typeof PublishPluginBodySchema>>().toEqualTypeOf<keyof PublishPluginBody>();
    expectTypeOf<SchemaKeys<typeof RollbackBodySchema>>().toEqualTypeOf<keyof RollbackBody>();
    expectTypeOf<SchemaKeys<(typeof ConfigurePluginBodySchema)['oneOf'][number]>>().toEqualTypeOf<Keys<ConfigurePluginBody>>();
    expectTypeOf<SchemaKeys<typeof ReplayBodySchema>>().toEqualTypeOf<keyof ReplayRequest>();
    expectTypeOf<SchemaKeys<typeof DeadLetterQuerySchema>>().toEqualTypeOf<keyof DeadLetterQuery>();
    expectTypeOf<SchemaKeys<typeof BatchQuerySchema>>().toEqualTypeOf<keyof BatchQuery>();
    expectTypeOf<SchemaKeys<typeof ResultsQuerySchema>>().toEqualTypeOf<keyof ResultsQuery>();
  });

  it('accept bodies of the contract types', () => {
    const bodies: Array<[object, unknown]> = [
      [SetMonitoringBodySchema, { enabled: true, basePeriod: '10m', defaultApp: 'none' } satisfies SetMonitoringBody],
      [PublishPluginBodySchema, { manifest: {}, code: 'export {}', map: '{}', config: { k: [1] }, strict: false } satisfies PublishPluginBody],
      [ConfigurePluginBodySchema, { set: { k: null } } satisfies ConfigurePluginBody],
      [ReplayBodySchema, { endpoint: 'churn', seqs: [3], includeLate: false } satisfies ReplayRequest],
    ];
    for (const [schema, body] of bodies) expect(outcome(schema, body)).toBe('ok');
  });
});

describe('the client', () => {
  // nothing listens on this port: a request that were sent would fail with HTTP_ERROR (cannot reach)
  const client = new ModelwatchClient({ url: 'http://127.0.0.1:9', timeoutMs: 2000 });

  it('refuses a bad body before any request, with the host message', async () => {
    await expect(client.rollbackPlugin('drift', 3 as unknown as string)).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'to: expected a version string',
    });
    await expect(client.setMonitoring({ enabled: 'on' as unknown as boolean })).rejects.toMatchObject({ message: 'enabled: expected true or false' });
    await expect(client.configurePlugin('drift', {} as ConfigurePluginBody)).rejects.toMatchObject({ message: CONFIGURE });
    await expect(client.publishPlugin({ manifest: {}, code: 'x', strict: 'yes' as unknown as boolean })).rejects.toMatchObject({
      message: 'strict: expected true or false',
    });
    await expect(client.replayDeadLetters({ seqs: [-1] })).rejects.toMatchObject({ message: 'seqs: expected a list of dead-letter sequences' });
    await expect(client.replayDeadLetters({ endpoint: 'no spaces' })).rejects.toMatchObject({ message: BAD_NAME });
  });

  it('sends a good body (here to no host: the request itself fails)', async () => {
    await expect(client.setMonitoring({ enabled: true })).rejects.toMatchObject({ code: 'HTTP_ERROR' });
  });
});

describe('when a schema is compiled', () => {
  const unknownType = { type: 'object', properties: { n: { type: 'no-such-type' } } };

  it("the API's routes compile theirs at once: a schema Ajv refuses stops the host's start, not each request", () => {
    expect(() => validator(unknownType, 'body', 'now')).toThrow(/no-such-type|type must be/);
  });

  it("the client's checks compile on their first call (a command that sends no such body never compiles it), with the same answers", () => {
    const check = validator(unknownType, 'text');
    expect(() => check({ n: 1 })).toThrow(/no-such-type|type must be/);
    const later = validator(SetMonitoringBodySchema);
    const now = validator(SetMonitoringBodySchema, 'body', 'now');
    const answers = (f: (d: unknown) => void) =>
      [{ enabled: true }, { enabled: 'yes' }, { basePeriod: [] }, {}].map((body) => {
        try {
          f(body);
          return 'ok';
        } catch (err) {
          return (err as Error).message;
        }
      });
    expect(answers(later)).toEqual(answers(now));
    expect(answers(later)).toEqual(['ok', expect.stringMatching(/^enabled: /), 'basePeriod: expected a duration such as 5s or 10m', 'ok']);
  });
});
