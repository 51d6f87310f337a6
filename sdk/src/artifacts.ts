/**
 * `ctx.logArtifact`: the checks and limits of an app's artifacts, in one place for both sides that
 * build a context (the sandbox's runtime, where they run before anything is copied out of the
 * isolate, and `@modelwatch/sdk/testing`). Sandbox-safe: no Node API, no `TextEncoder`.
 * @internal
 * @module
 */
import { ModelwatchSdkError } from './errors.js';
import type { ArtifactOptions } from './types.js';

/** How much an app may attach to a window (plugin.json `limits`). */
export interface ArtifactLimits {
  /** Largest artifact, in bytes (a string's UTF-8 bytes). */
  artifactBytes: number;
  /** All the artifacts of one window together, in bytes. */
  windowArtifactBytes: number;
}

/** The defaults of plugin.json's `limits.artifactBytes` (1 MiB) and `limits.windowArtifactBytes` (4 MiB). */
export const DEFAULT_ARTIFACT_LIMITS: Readonly<ArtifactLimits> = Object.freeze({ artifactBytes: 1024 * 1024, windowArtifactBytes: 4 * 1024 * 1024 });

/** Artifacts one window may log. */
export const MAX_ARTIFACTS_PER_WINDOW = 32;

/** An artifact's name: a file name, no path separator, at most 128 characters. */
export const ARTIFACT_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** A MIME type (`type/subtype`, with parameters), at most 255 characters. */
export const CONTENT_TYPE_PATTERN =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}(?:\s*;\s*[A-Za-z0-9!#$&^_.+-]+=(?:[A-Za-z0-9!#$&^_.+-]+|"[^"\\\r\n]*"))*$/;

/** One artifact as it leaves the app: validated, within its limits, the bytes its own copy. */
export interface LoggedArtifact {
  name: string;
  contentType: string;
  body: string | Uint8Array;
  /** Its size in bytes (a string's UTF-8 bytes). */
  bytes: number;
}

// taken when the module loads, before any plugin code runs: a plugin's own `byteLength`, `slice`,
// `constructor` or `Symbol.hasInstance` cannot make an artifact look smaller than it is
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
const typedArrayTag = Object.getOwnPropertyDescriptor(TypedArrayPrototype, Symbol.toStringTag)!.get!;
const typedArrayByteLength = Object.getOwnPropertyDescriptor(TypedArrayPrototype, 'byteLength')!.get!;
const U8 = Uint8Array;

function artifactError(message: string): ModelwatchSdkError {
  return new ModelwatchSdkError('INVALID_ARTIFACT', message);
}

/** The UTF-8 length of `s`, or `cap + 1` as soon as it passes `cap` (no copy is made). */
function utf8Length(s: string, cap: number): number {
  // UTF-8 takes at least one byte per UTF-16 unit: a long string is over without counting
  if (s.length > cap) return cap + 1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
    if (n > cap) return cap + 1;
  }
  return n;
}

/**
 * The `ctx.logArtifact` of one window: checks the name, the content type and the body, enforces
 * `limits` (per artifact and per window) before anything is copied, and hands each artifact to
 * `put`. Throws a `ModelwatchSdkError` with code `INVALID_ARTIFACT` saying what is wrong.
 */
export function createArtifactLog(
  limits: ArtifactLimits,
  put: (artifact: LoggedArtifact) => void,
): (name: string, body: string | Uint8Array, options?: ArtifactOptions) => void {
  const names = new Set<string>();
  let total = 0;
  return (name, body, options) => {
    if (typeof name !== 'string' || !ARTIFACT_NAME_PATTERN.test(name)) {
      throw artifactError(
        `artifact name ${typeof name === 'string' ? `'${name.slice(0, 140)}'` : `of type ${typeof name}`} is not valid: 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-' (no path separators)`,
      );
    }
    if (names.has(name)) throw artifactError(`artifact '${name}' was already logged in this window`);
    if (names.size >= MAX_ARTIFACTS_PER_WINDOW) throw artifactError(`artifact '${name}': a window may log at most ${MAX_ARTIFACTS_PER_WINDOW} artifacts`);
    const ct: unknown = options?.contentType;
    let contentType: string;
    if (ct === undefined) contentType = typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/octet-stream';
    else if (typeof ct === 'string' && ct.length <= 255 && CONTENT_TYPE_PATTERN.test(ct)) contentType = ct;
    else
      throw artifactError(
        `artifact '${name}': contentType must be a MIME type such as 'text/csv', got ${typeof ct === 'string' ? `'${ct.slice(0, 100)}'` : typeof ct}`,
      );
    let bytes: number;
    let copy: string | Uint8Array;
    if (typeof body === 'string') {
      bytes = utf8Length(body, limits.artifactBytes);
      copy = body;
    } else if (typedArrayTag.call(body) === 'Uint8Array') {
      bytes = typedArrayByteLength.call(body) as number;
      copy = body;
    } else {
      throw artifactError(`artifact '${name}': the body must be a string or a Uint8Array, got ${body === null ? 'null' : typeof body}`);
    }
    if (bytes > limits.artifactBytes) {
      const size = typeof body === 'string' ? `more than ${limits.artifactBytes}` : String(bytes);
      throw artifactError(
        `artifact '${name}' is ${size} bytes, over the limit of ${limits.artifactBytes} bytes per artifact (limits.artifactBytes in plugin.json)`,
      );
    }
    if (total + bytes > limits.windowArtifactBytes) {
      throw artifactError(
        `artifact '${name}' (${bytes} bytes) would bring this window's artifacts to ${total + bytes} bytes, over the limit of ${limits.windowArtifactBytes} bytes per window (limits.windowArtifactBytes in plugin.json)`,
      );
    }
    // the app keeps its array: the artifact is what it held now
    if (typeof copy !== 'string') copy = new U8(copy);
    names.add(name);
    total += bytes;
    put({ name, contentType, body: copy, bytes });
  };
}
