/** What the HTTP API checks of a body's text before it reads it (`api/body-text.ts`). */
import { describe, expect, it } from 'vitest';
import { charsetError, parseJsonBody, utf8Only } from '../src/api/body-text.js';
import { ModelwatchError } from '../src/errors.js';

/** The INVALID_ARGUMENT message `parseJsonBody` refuses `text` with. */
function refused(text: string): string {
  try {
    parseJsonBody(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ModelwatchError);
    expect((err as ModelwatchError).code).toBe('INVALID_ARGUMENT');
    return (err as Error).message;
  }
  throw new Error('expected an INVALID_ARGUMENT error, but nothing was thrown');
}

describe('charsetError', () => {
  it.each([
    undefined,
    'application/json',
    'application/json; charset=utf-8',
    'text/csv;charset=UTF-8',
    'application/x-ndjson; charset="utf-8"',
    'text/plain; charset=us-ascii',
    'application/json; charset=utf8',
  ])('takes %j', (type) => {
    expect(charsetError(type)).toBeUndefined();
  });

  it.each([
    ['application/json; charset=utf-16', 'utf-16'],
    ['text/csv; charset=ISO-8859-1', 'ISO-8859-1'],
    ['application/x-ndjson;charset="UTF-16LE"', 'UTF-16LE'],
    ['application/jsonl; foo=bar; Charset=latin1', 'latin1'],
    ['text/plain; charset=', ''],
  ])('refuses %j (415 UNSUPPORTED_CHARSET), naming the charset and asking for UTF-8', (type, charset) => {
    expect(charsetError(type)).toMatchObject({
      statusCode: 415,
      code: 'UNSUPPORTED_CHARSET',
      message: `Content-Type '${type}': charset '${charset}' is not supported: the body must be UTF-8 (charset=utf-8, or no charset)`,
    });
  });
});

describe('utf8Only', () => {
  it('hands a UTF-8 body to the parser, and refuses another charset before the parser sees it', () => {
    const seen: unknown[] = [];
    const parse = utf8Only<string>((_req, body, done) => {
      seen.push(body);
      done(null, body.toUpperCase());
    });
    const results: Array<[Error | null, unknown]> = [];
    const done = (err: Error | null, body?: unknown): void => void results.push([err, body]);
    parse({ headers: { 'content-type': 'text/plain; charset=utf-8' } }, 'a', done);
    parse({ headers: {} }, 'b', done);
    parse({ headers: { 'content-type': 'text/plain; charset=utf-16' } }, 'c', done);
    expect(seen).toEqual(['a', 'b']);
    expect(results.slice(0, 2)).toEqual([
      [null, 'A'],
      [null, 'B'],
    ]);
    expect(results[2]![0]).toMatchObject({ statusCode: 415, code: 'UNSUPPORTED_CHARSET' });
  });
});

describe('parseJsonBody', () => {
  it('reads a body after a byte order mark (as Fastify did), and checks its keys as any other', () => {
    expect(parseJsonBody('\uFEFF{"a": 1}')).toEqual({ a: 1 });
    expect(refused('\uFEFF{"__proto__": {}}')).toMatch(/^body: key '__proto__' is not allowed/);
  });

  it('parses JSON, keys that merely contain __proto__ or constructor included', () => {
    expect(parseJsonBody('{"a": [1, {"b": null}]}')).toEqual({ a: [1, { b: null }] });
    expect(parseJsonBody('{"constructor": 1, "x__proto__": 2, "s": "\\"__proto__\\": 3"}')).toEqual({ constructor: 1, x__proto__: 2, s: '"__proto__": 3' });
    expect(parseJsonBody('{"constructor": {"name": "x"}}')).toEqual({ constructor: { name: 'x' } });
  });

  it('refuses a key __proto__ or constructor.prototype, naming it and where it is', () => {
    expect(refused('{"__proto__": {"polluted": true}}')).toBe(
      "body: key '__proto__' is not allowed (it would set an object's prototype in JavaScript): rename or remove it",
    );
    expect(refused('{"set": {"k": [1, {"\\u005f_proto__": 1}]}}')).toBe(
      "body.set.k[1]: key '__proto__' is not allowed (it would set an object's prototype in JavaScript): rename or remove it",
    );
    expect(refused('[{"a b": {"constructor": {"prototype": {"x": 1}}}}]')).toBe(
      `body[0]["a b"]: key 'constructor.prototype' is not allowed (it would set an object's prototype in JavaScript): rename or remove it`,
    );
  });

  it('says why a body is not JSON', () => {
    expect(refused('')).toBe('body: empty: send a JSON value ({} when there is nothing to say)');
    expect(refused('{"a": ')).toMatch(/^body: not valid JSON: /);
    expect(refused('{"a": NaN}')).toMatch(/^body: not valid JSON: NaN and Infinity are not JSON numbers/);
  });

  it('walks a body nested deeper than the stack goes, and names a deep place in 200 characters', () => {
    const deep = `${'['.repeat(100_000)}{"__proto__": 1}${']'.repeat(100_000)}`;
    expect(refused(deep)).toBe(
      `${`body${'[0]'.repeat(100_000)}`.slice(0, 200)}...: key '__proto__' is not allowed (it would set an object's prototype in JavaScript): rename or remove it`,
    );
  });
});
