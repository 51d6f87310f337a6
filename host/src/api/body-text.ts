/**
 * What the HTTP API checks of a request body's text before it reads it: the charset its
 * `Content-Type` declares (every body is read as UTF-8), and, for the JSON bodies of the routes
 * without a parser of their own, keys that would reach an object's prototype.
 */
import { ModelwatchError } from '../errors.js';
import { invalidJsonMessage } from '../stream/ingest.js';

/** The charsets a body may declare: it is read as UTF-8 (of which US-ASCII is a part). */
const UTF8_CHARSETS: ReadonlySet<string> = new Set(['utf-8', 'utf8', 'us-ascii']);

/** An error the API's error handler answers with its status and code (an HTTP error, not a host `ErrorCode`). */
class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The 415 `UNSUPPORTED_CHARSET` error for a `Content-Type` that declares a charset other than
 * UTF-8 (or US-ASCII), or undefined: the host reads every body as UTF-8, and would read another
 * charset's bytes as garbage.
 */
export function charsetError(contentType: string | undefined): Error | undefined {
  if (contentType === undefined || !contentType.includes(';')) return undefined;
  for (const param of contentType.split(';').slice(1)) {
    const eq = param.indexOf('=');
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'charset') continue;
    const charset = param
      .slice(eq + 1)
      .trim()
      .replace(/^"(.*)"$/, '$1');
    if (UTF8_CHARSETS.has(charset.toLowerCase())) continue;
    return new HttpError(
      415,
      'UNSUPPORTED_CHARSET',
      `Content-Type '${contentType.slice(0, 200)}': charset '${charset.slice(0, 100)}' is not supported: the body must be UTF-8 (charset=utf-8, or no charset)`,
    );
  }
  return undefined;
}

/** A Fastify body parser's callback. */
type ParserDone = (err: Error | null, body?: unknown) => void;

/**
 * `parse`, for a body whose `Content-Type` declares UTF-8 or no charset; a body of another charset
 * is refused with {@link charsetError}'s 415. Every body parser of the API is wrapped so (a check
 * where a body is read, not a hook on every request).
 */
export function utf8Only<B>(
  parse: (req: { headers: { 'content-type'?: string } }, body: B, done: ParserDone) => void,
): (req: { headers: { 'content-type'?: string } }, body: B, done: ParserDone) => void {
  return (req, body, done) => {
    const err = charsetError(req.headers['content-type']);
    if (err) return done(err);
    parse(req, body, done);
  };
}

// a key `__proto__` or `constructor`, also written with \u escapes (as secure-json-parse finds them)
const SUSPECT_PROTO =
  /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/;
const SUSPECT_CONSTRUCTOR =
  /"(?:c|\\u0063)(?:o|\\u006[Ff])(?:n|\\u006[Ee])(?:s|\\u0073)(?:t|\\u0074)(?:r|\\u0072)(?:u|\\u0075)(?:c|\\u0063)(?:t|\\u0074)(?:o|\\u006[Ff])(?:r|\\u0072)"\s*:/;

/** Where in the body `key` of the object at `path` is. */
function child(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** The first key of `value` that would reach an object's prototype, with where it is, or undefined. */
function forbiddenKey(value: unknown): { key: string; path: string } | undefined {
  // (no recursion: a body may nest deeper than the stack goes)
  const stack: Array<{ node: unknown; path: string }> = [{ node: value, path: 'body' }];
  while (stack.length) {
    const { node, path } = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      for (let i = node.length - 1; i >= 0; i--) stack.push({ node: node[i], path: child(path, i) });
      continue;
    }
    const record = node as Record<string, unknown>;
    if (Object.hasOwn(record, '__proto__')) return { key: '__proto__', path };
    const ctor = Object.hasOwn(record, 'constructor') ? record.constructor : undefined;
    if (typeof ctor === 'object' && ctor !== null && Object.hasOwn(ctor, 'prototype')) return { key: 'constructor.prototype', path };
    const keys = Object.keys(record);
    for (let i = keys.length - 1; i >= 0; i--) stack.push({ node: record[keys[i]!], path: child(path, keys[i]!) });
  }
  return undefined;
}

/**
 * A JSON body, parsed. A key `__proto__`, or `constructor` holding a `prototype`, is refused
 * naming it and where it is: such a key would set an object's prototype wherever the body is
 * copied into another object (what secure-json-parse refuses, which said only that the body was
 * not valid JSON).
 * @throws {ModelwatchError} INVALID_ARGUMENT: an empty body, one that is not JSON, or one with such a key
 */
export function parseJsonBody(body: string): unknown {
  // a byte order mark before the JSON (files saved by Notepad, PowerShell, .NET) is not part of it
  const text = body.charCodeAt(0) === 0xfeff ? body.slice(1) : body;
  if (text.trim() === '') throw new ModelwatchError('INVALID_ARGUMENT', 'body: empty: send a JSON value ({} when there is nothing to say)');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ModelwatchError('INVALID_ARGUMENT', `body: ${invalidJsonMessage(Buffer.from(text), err as Error)}`);
  }
  if (SUSPECT_PROTO.test(text) || SUSPECT_CONSTRUCTOR.test(text)) {
    const found = forbiddenKey(value);
    if (found) {
      const where = found.path.length > 200 ? `${found.path.slice(0, 200)}...` : found.path;
      throw new ModelwatchError(
        'INVALID_ARGUMENT',
        `${where}: key '${found.key}' is not allowed (it would set an object's prototype in JavaScript): rename or remove it`,
      );
    }
  }
  return value;
}
