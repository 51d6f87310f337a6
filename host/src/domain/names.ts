import { createHash } from 'node:crypto';
import { ENDPOINT_NAME, MAX_REQUEST_ID_LENGTH } from '@modelwatch/protocol';
import { InvalidEventError, ModelwatchError } from '../errors.js';

/**
 * 1-256 printable characters: no control characters (C0, DEL, C1), no half of a surrogate pair,
 * no bidirectional override or isolate (which make a name read as another on a screen).
 */
export const PRINTABLE_NAME = /^[^\p{Cc}\p{Cs}\u202a-\u202e\u2066-\u2069]{1,256}$/u;
export const FEATURE_NAME = PRINTABLE_NAME;

/**
 * Names that are properties of every plain object (`Object.prototype`'s own, and `prototype`):
 * refused as endpoint, app, feature and label names, so a name taken from outside never reaches
 * an object's prototype chain, wherever it ends up as a key.
 */
export const RESERVED_OBJECT_NAMES: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  'toString',
  'valueOf',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);

/** Why a name is refused as a key-like name, or undefined when it is not one of {@link RESERVED_OBJECT_NAMES}. */
export function reservedNameReason(name: string, what: string): string | undefined {
  return RESERVED_OBJECT_NAMES.has(name)
    ? `${what} ${JSON.stringify(name)} is reserved (it is a property of every JavaScript object: ${[...RESERVED_OBJECT_NAMES].join(', ')}): choose another name`
    : undefined;
}

/** An endpoint's id: SHA-1 of its name, hex (MLRun derives ids the same way). */
export function endpointId(name: string): string {
  return createHash('sha1').update(name).digest('hex');
}

export function checkEndpointName(name: unknown): string {
  if (typeof name !== 'string' || !ENDPOINT_NAME.test(name)) {
    throw new ModelwatchError(
      'INVALID_ARGUMENT',
      `endpoint name ${JSON.stringify(name)} is not valid: use 1-128 letters, digits, '_' or '-', starting with a letter or digit`,
    );
  }
  const reserved = reservedNameReason(name, 'endpoint name');
  if (reserved) throw new ModelwatchError('INVALID_ARGUMENT', reserved);
  return name;
}

/**
 * A request id as an event gives it, at most `max` ({@link MAX_REQUEST_ID_LENGTH}) characters (the
 * host keeps it with every row, and a label joins on it).
 * @throws {InvalidEventError} naming `path`, for a longer one
 */
export function checkRequestId(id: string, path: string, max = MAX_REQUEST_ID_LENGTH): string {
  if (id.length > max) {
    throw new InvalidEventError(`${path}: ${id.length} characters, over the limit of ${max} for a request id`);
  }
  return id;
}

/** How many feature names, and how many output names, an endpoint may have unless the host says otherwise (`HostOptions.maxFeatures`). */
export const DEFAULT_MAX_FEATURES = 10_000;

/**
 * What is wrong with a list of feature or output names, declared or inferred (from an event or a
 * reference's columns), or undefined: each 1-256 printable characters, none twice, at most
 * `maxNames` of them.
 */
export function namesProblem(names: unknown, what: string, maxNames: number = DEFAULT_MAX_FEATURES): string | undefined {
  if (!Array.isArray(names)) return `${what} must be a list of names`;
  if (names.length > maxNames) {
    return `${what}: ${names.length} names, over the limit of ${maxNames} per endpoint (the host's maxFeatures, MODELWATCH_MAX_FEATURES)`;
  }
  const seen = new Set<string>();
  for (const n of names) {
    if (typeof n !== 'string' || !FEATURE_NAME.test(n)) return `${what}: ${JSON.stringify(n)} is not a valid name (1-256 printable characters)`;
    const reserved = reservedNameReason(n, `${what}:`);
    if (reserved) return reserved;
    if (seen.has(n)) return `${what}: '${n}' appears twice`;
    seen.add(n);
  }
  return undefined;
}

/** Declared names, checked by {@link namesProblem}. @throws {ModelwatchError} INVALID_ARGUMENT */
export function checkNames(names: unknown, what: string, maxNames: number = DEFAULT_MAX_FEATURES): string[] {
  const problem = namesProblem(names, what, maxNames);
  if (problem) throw new ModelwatchError('INVALID_ARGUMENT', problem);
  return names as string[];
}
