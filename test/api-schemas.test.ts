/**
 * The routes' request schemas (host/src/api/schemas.ts) as the host answers them: a request the
 * schema refuses is the host's INVALID_ARGUMENT error (HTTP 400, `{ error: { code, message } }`)
 * with the message the client gives locally; query strings and params are coerced.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authHeaders, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';

describe('request schemas over HTTP', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;

  beforeAll(async () => {
    nats = await startTestNats();
    env = await startTestHost({ natsUrl: nats.url, basePeriod: 1000, allowedLateness: 300 });
  });
  afterAll(async () => {
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  const send = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${env.client.url}${path}`, {
      method,
      ...(body === undefined ? { headers: authHeaders() } : { headers: authHeaders({ 'content-type': 'application/json' }), body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as unknown };
  };
  const refused = (message: string) => ({ status: 400, body: { error: { code: 'INVALID_ARGUMENT', message } } });

  it('refuses bad bodies, queries and params with the INVALID_ARGUMENT error and its message', async () => {
    await env.client.createEndpoint({ name: 'churn', featureNames: ['a'] });
    expect(await send('PATCH', '/api/v1/endpoints/churn', { monitoring: 'no' })).toEqual(refused('monitoring: expected true or false'));
    // created as PATCH changes it: the string "false" is not false (it created an endpoint with monitoring on)
    expect(await send('POST', '/api/v1/endpoints', { name: 'mf', monitoring: 'false' })).toEqual(refused('monitoring: expected true or false'));
    expect(
      await send('POST', '/api/v1/endpoints/bulk', [
        { name: 'mf', monitoring: 'false' },
        { name: 'mf2', monitoring: false },
      ]),
    ).toMatchObject({
      status: 200,
      body: {
        created: 1,
        failed: 1,
        items: [
          { index: 0, name: 'mf', status: 'failed', error: { code: 'INVALID_ARGUMENT', message: 'monitoring: expected true or false' } },
          { index: 1, name: 'mf2', status: 'created' },
        ],
      },
    });
    expect(await send('GET', '/api/v1/endpoints/mf')).toMatchObject({ status: 404 });
    expect(await send('GET', '/api/v1/endpoints/mf2')).toMatchObject({ status: 200, body: { monitoring: false } });
    expect(await send('PUT', '/api/v1/monitoring', { enabled: 1 })).toEqual(refused('enabled: expected true or false'));
    expect(await send('POST', '/api/v1/plugins/drift/rollback', { to: 2 })).toEqual(refused('to: expected a version string'));
    expect(await send('PATCH', '/api/v1/plugins/drift/config', { set: { k: 1 }, config: {} })).toEqual(
      refused('body: expected { set: { key: value } } (merge) or { config: { ... } } (replace)'),
    );
    expect(await send('POST', '/api/v1/dlq/replay', { seqs: ['1'] })).toEqual(refused('seqs: expected a list of dead-letter sequences'));
    expect(await send('GET', '/api/v1/dlq?limit=abc')).toEqual(refused("limit: expected a positive whole number, got 'abc'"));
    expect(await send('GET', '/api/v1/dlq/x')).toEqual(refused("'x' is not a dead-letter sequence"));
    expect(await send('GET', '/api/v1/results?limit=0')).toEqual(refused("limit: expected a positive whole number, got '0'"));
    expect(await send('POST', '/api/v1/endpoints/churn/batches?id=x!', [])).toEqual(
      refused("batch id 'x!' is not valid: use 1-64 letters, digits, '_' or '-'"),
    );
    // times beyond what a Date holds, and times that are no ISO time: refused, not a 500
    expect(await send('GET', '/api/v1/endpoints/churn/windows/99999999999999999999')).toEqual(
      refused('window start: expected a time (ISO 8601 or ms since the epoch), got "99999999999999999999"'),
    );
    expect(await send('POST', '/api/v1/endpoints/churn/reference/from-traffic', { from: 1e300, to: -1 })).toEqual(
      refused('from: expected a time (ISO 8601 or ms since the epoch), got 1e+300'),
    );
    expect(await send('POST', '/api/v1/endpoints/churn/reference/from-traffic', { last: '99999999999d' })).toEqual(
      refused("last: '99999999999d' is longer than 100 years"),
    );
    expect(await send('GET', '/api/v1/endpoints/churn/batches/%00')).toEqual(refused("batch id '\u0000' is not valid: use 1-64 letters, digits, '_' or '-'"));
    expect(await send('GET', '/api/v1/endpoints/no%20spaces/batches')).toEqual(
      refused(`endpoint name "no spaces" is not valid: use 1-128 letters, digits, '_' or '-', starting with a letter or digit`),
    );
  });

  it('takes what the schemas accept: query strings coerced, an empty JSON body; a POST with no body is refused (a browser sends one cross-site)', async () => {
    expect(await send('GET', '/api/v1/dlq?limit=5&endpoint=churn')).toMatchObject({ status: 200, body: { total: 0, letters: [] } });
    expect(await send('GET', '/api/v1/dlq/999999')).toMatchObject({ status: 404, body: { error: { code: 'NOT_FOUND' } } });
    expect(await send('POST', '/api/v1/dlq/replay', {})).toEqual({ status: 200, body: { replayed: [], skipped: [] } });
    expect(await send('POST', '/api/v1/dlq/replay')).toMatchObject({ status: 415, body: { error: { code: 'UNSAFE_CONTENT_TYPE' } } });
    expect(await send('PATCH', '/api/v1/endpoints/churn', { monitoring: false })).toMatchObject({ status: 200, body: { name: 'churn', monitoring: false } });
  });

  it('serves an endpoint whose name has the longest length a name may have (128)', async () => {
    const name = `e${'x'.repeat(127)}`;
    await env.client.createEndpoint({ name, featureNames: ['a'] });
    expect(await send('POST', `/api/v1/endpoints/${name}/events`, { inputs: [[1]] })).toMatchObject({ status: 202, body: { accepted: 1 } });
    expect(await send('GET', `/api/v1/endpoints/${name}`)).toMatchObject({ status: 200, body: { name } });
  });

  it('says what is wrong with a body: a key __proto__, a charset other than UTF-8, a long request id, an Infinity in a reference column of numbers', async () => {
    const raw = async (method: string, path: string, contentType: string, body: string) => {
      const res = await fetch(`${env.client.url}${path}`, { method, headers: authHeaders({ 'content-type': contentType }), body });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    await env.client.createEndpoint({ name: 'probe', featureNames: ['a'], labelNames: ['p0'] });
    // a key that would set a prototype: refused naming it (Fastify's parser said "Body is not valid JSON")
    expect(await raw('PATCH', '/api/v1/endpoints/probe', 'application/json', '{"tags": {"__proto__": {"x": "1"}}}')).toEqual(
      refused("body.tags: key '__proto__' is not allowed (it would set an object's prototype in JavaScript): rename or remove it"),
    );
    expect(await raw('POST', '/api/v1/endpoints', 'application/json', '{"name": "p2", "constructor": {"prototype": {}}}')).toEqual(
      refused("body: key 'constructor.prototype' is not allowed (it would set an object's prototype in JavaScript): rename or remove it"),
    );
    expect(await raw('POST', '/api/v1/endpoints', 'application/json', '{"name": ')).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^body: not valid JSON: /) } },
    });
    // a charset other than UTF-8, on every type the routes read: 415, naming it
    const charsets: Array<[string, string, string, string]> = [
      ['PATCH', '/api/v1/endpoints/probe', 'application/json; charset=utf-16', '{}'],
      ['POST', '/api/v1/endpoints/probe/events', 'application/json; charset=utf-16', '{"inputs": [[1]]}'],
      ['POST', '/api/v1/endpoints/probe/events', 'application/x-ndjson; charset=ISO-8859-1', '{"inputs": [[1]]}\n'],
      ['POST', '/api/v1/endpoints/probe/events', 'application/jsonl; charset="latin1"', '{"inputs": [[1]]}\n'],
      ['PUT', '/api/v1/endpoints/probe/reference', 'text/csv; charset=utf-16le', 'a,p0\n1,0\n'],
    ];
    for (const [method, path, type, body] of charsets) {
      const charset = /charset="?([^";]*)/.exec(type)![1];
      expect(await raw(method, path, type, body), `${method} ${path} ${type}`).toEqual({
        status: 415,
        body: {
          error: {
            code: 'UNSUPPORTED_CHARSET',
            message: `Content-Type '${type}': charset '${charset}' is not supported: the body must be UTF-8 (charset=utf-8, or no charset)`,
          },
        },
      });
    }
    expect(await raw('POST', '/api/v1/endpoints/probe/events', 'application/json; charset=UTF-8', '{"inputs": [[1]]}')).toMatchObject({
      status: 202,
      body: { accepted: 1 },
    });
    // a request id of 100,000 characters: the event is refused naming the field
    expect(await send('POST', '/api/v1/endpoints/probe/events', { inputs: [[1]], requestId: 'r'.repeat(100_000) })).toEqual({
      status: 400,
      body: { accepted: 0, rejected: [{ index: 0, error: 'requestId: 100000 characters, over the limit of 256 for a request id' }] },
    });
    // Infinity in a reference column of numbers: refused naming its row and column (it made the column categorical)
    expect(await raw('PUT', '/api/v1/endpoints/probe/reference', 'text/csv', 'a,p0\n1,0\nInfinity,1\n')).toEqual({
      status: 400,
      body: {
        error: {
          code: 'INVALID_REFERENCE',
          message:
            "reference row 2, column 'a': Infinity is not a finite number (a column of numbers takes finite numbers only; a missing value's cell is empty or nan)",
        },
      },
    });
  });

  it("answers a route that does not exist in the API's error shape", async () => {
    expect(await send('GET', '/api/v1/no-such-route?x=1')).toEqual({
      status: 404,
      body: { error: { code: 'NOT_FOUND', message: 'no route GET /api/v1/no-such-route' } },
    });
  });
});
