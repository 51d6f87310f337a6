import type { ErrorCode, ErrorData } from '@modelwatch/protocol';

export type { ErrorCode, ErrorData };

/** What a family's constructor takes: its code (for families of several), the message, a cause. */
type ErrorOptions = { cause?: unknown };

/**
 * Base class of the host's errors: a stable `code`, a message that says what is wrong, and
 * whether trying again may succeed (`retryable`). Every error is an instance of its family's
 * class (`NotFoundError`, `AppError`...): `new ModelwatchError(code, message)` builds the
 * family that owns `code` (see {@link ERROR_FAMILIES}).
 */
export class ModelwatchError extends Error {
  readonly code!: ErrorCode;
  /** Whether the same operation may succeed if tried again (a window's app run, a server start). */
  readonly retryable!: boolean;
  /** For errors a plugin threw: its stack, mapped to the plugin's sources. */
  pluginStack?: string;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    const family = familyOf(code);
    if (new.target === ModelwatchError && family) {
      // an error of a known code is an instance of its family, whoever builds it
      return new family.error(code, message, options);
    }
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.retryable = family?.retryable ?? false;
  }
}

/** A family's class, as the base constructor builds it for one of the family's codes. */
type FamilyClass = new (code: ErrorCode, message: string, options?: ErrorOptions) => ModelwatchError;

/** `INVALID_OPTIONS`: host options, flags or environment that are not valid. Not retryable. */
export class InvalidOptionsError extends ModelwatchError {
  constructor(code: 'INVALID_OPTIONS', message: string, options?: ErrorOptions);
  constructor(message: string, options?: ErrorOptions);
  constructor(a: string, b?: string | ErrorOptions, c?: ErrorOptions) {
    super('INVALID_OPTIONS', ...messageArgs(a, b, c));
  }
}

/** `INVALID_ARGUMENT`: a request or command argument that is not valid. Not retryable. */
export class InvalidArgumentError extends ModelwatchError {
  constructor(code: 'INVALID_ARGUMENT', message: string, options?: ErrorOptions);
  constructor(message: string, options?: ErrorOptions);
  constructor(a: string, b?: string | ErrorOptions, c?: ErrorOptions) {
    super('INVALID_ARGUMENT', ...messageArgs(a, b, c));
  }
}

/** `INVALID_EVENT`: an event that is not valid; the message says what is wrong (and where, for an event of several). */
export class InvalidEventError extends ModelwatchError {
  constructor(code: 'INVALID_EVENT', message: string, options?: ErrorOptions);
  constructor(message: string, options?: ErrorOptions);
  constructor(a: string, b?: string | ErrorOptions, c?: ErrorOptions) {
    super('INVALID_EVENT', ...messageArgs(a, b, c));
  }
}

/** `INVALID_REFERENCE`: a reference data set or its statistics that are not valid. Not retryable. */
export class InvalidReferenceError extends ModelwatchError {
  constructor(code: 'INVALID_REFERENCE', message: string, options?: ErrorOptions);
  constructor(message: string, options?: ErrorOptions);
  constructor(a: string, b?: string | ErrorOptions, c?: ErrorOptions) {
    super('INVALID_REFERENCE', ...messageArgs(a, b, c));
  }
}

/** `NOT_FOUND`: an endpoint, plugin, version, batch or window that does not exist; `UNKNOWN_BUILTIN`: no built-in app of that name. Not retryable. */
export type NotFoundErrorCode = 'NOT_FOUND' | 'UNKNOWN_BUILTIN';
export class NotFoundError extends ModelwatchError {
  declare readonly code: NotFoundErrorCode;
  constructor(code: NotFoundErrorCode, message: string, options?: ErrorOptions);
  constructor(message: string, options?: ErrorOptions);
  constructor(a: string, b?: string | ErrorOptions, c?: ErrorOptions) {
    const code: NotFoundErrorCode = typeof b === 'string' && a === 'UNKNOWN_BUILTIN' ? 'UNKNOWN_BUILTIN' : 'NOT_FOUND';
    super(code, ...messageArgs(a, b, c));
  }
}

/** The `NOT_FOUND` error of a batch id an endpoint has no batch of (a batch is listed once its events are ingested). */
export function unknownBatchError(endpoint: string, id: string): NotFoundError {
  return new NotFoundError(`no batch '${id}' of endpoint ${endpoint} (see modelwatch batch list ${endpoint}; a batch is listed once its events are ingested)`);
}

/**
 * `CONFLICT`: the request contradicts what is stored (a version published with other code);
 * `IDEMPOTENCY_KEY_REUSED`: an idempotency key given again with another body. Not retryable.
 */
export type ConflictErrorCode = 'CONFLICT' | 'IDEMPOTENCY_KEY_REUSED';
export class ConflictError extends ModelwatchError {
  declare readonly code: ConflictErrorCode;
  constructor(code: ConflictErrorCode, message: string, options?: ErrorOptions);
  constructor(message: string, options?: ErrorOptions);
  constructor(a: string, b?: string | ErrorOptions, c?: ErrorOptions) {
    const code: ConflictErrorCode = typeof b === 'string' && a === 'IDEMPOTENCY_KEY_REUSED' ? 'IDEMPOTENCY_KEY_REUSED' : 'CONFLICT';
    super(code, ...messageArgs(a, b, c));
  }
}

export type NatsServerErrorCode = 'NATS_SERVER_NOT_FOUND' | 'NATS_SERVER_FAILED';
/** The nats-server the host starts: not installed (not retryable), or failed to start (retryable). */
export class NatsServerError extends ModelwatchError {
  declare readonly code: NatsServerErrorCode;
  constructor(code: NatsServerErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

export type PluginErrorCode = 'PLUGIN_BUILD_FAILED' | 'PLUGIN_INVALID_MANIFEST' | 'PLUGIN_LOAD_FAILED' | 'PLUGIN_DRY_RUN_FAILED';
/** A plugin refused at build, publish or load: fixing it takes a new version. Not retryable. */
export class PluginError extends ModelwatchError {
  declare readonly code: PluginErrorCode;
  constructor(code: PluginErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

export type AppErrorCode = 'APP_ERROR' | 'APP_TIMEOUT' | 'APP_MEMORY_LIMIT' | 'APP_INVALID_OUTPUT' | 'WINDOW_FAILED';
/**
 * A window's app run that failed: the app threw, ran out of time or memory, or returned an
 * invalid output (retryable: the runner tries the window again, up to its attempts), or every
 * delivery of the window ended with its runner (`WINDOW_FAILED`: the runner gave up, not retryable).
 */
export class AppError extends ModelwatchError {
  declare readonly code: AppErrorCode;
  constructor(code: AppErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

export type HttpErrorCode = 'HTTP_ERROR' | 'BODY_TOO_LARGE';
/**
 * `HTTP_ERROR`: an HTTP request of the client that failed without an error body of the API;
 * `BODY_TOO_LARGE`: a request body over its route's limit (413, the API's `BodyLimits`). Not retryable.
 */
export class HttpError extends ModelwatchError {
  declare readonly code: HttpErrorCode;
  constructor(code: HttpErrorCode, message: string, options?: ErrorOptions);
  constructor(message: string, options?: ErrorOptions);
  constructor(a: string, b?: string | ErrorOptions, c?: ErrorOptions) {
    super(typeof b === 'string' ? (a as HttpErrorCode) : 'HTTP_ERROR', ...messageArgs(a, b, c));
  }
}

export type AuthErrorCode = 'UNAUTHENTICATED' | 'FORBIDDEN';
/**
 * A request of the HTTP API refused for its credentials: no token or an unknown one
 * (`UNAUTHENTICATED`, HTTP 401), or a token without the scope the route needs or for another
 * endpoint (`FORBIDDEN`, HTTP 403). Not retryable.
 */
export class AuthError extends ModelwatchError {
  declare readonly code: AuthErrorCode;
  constructor(code: AuthErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

export type ResourceErrorCode = 'STORAGE_FULL' | 'REPLY_TOO_LARGE';
/**
 * A resource ran out: `STORAGE_FULL`, a write failed for lack of disk space (retryable: it works
 * once space is freed; HTTP 503), or `REPLY_TOO_LARGE`, a reply over NATS' max payload (not
 * retryable: ask for less).
 */
export class ResourceError extends ModelwatchError {
  declare readonly code: ResourceErrorCode;
  constructor(code: ResourceErrorCode, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * Whether an error (or one of its causes) is a full disk: Node's and LevelDB's `ENOSPC` / "No
 * space left on device", or JetStream's "insufficient resources" (API error 10023: its store is full).
 */
export function isStorageFull(err: unknown): boolean {
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    const x = e as { code?: unknown; message?: unknown; api_error?: { err_code?: number } };
    if (x.code === 'ENOSPC' || x.code === 'STORAGE_FULL') return true;
    if (x.api_error?.err_code === 10023) return true;
    if (typeof x.message === 'string' && /ENOSPC|No space left on device|insufficient (storage )?resources/i.test(x.message)) return true;
  }
  return false;
}

/** The `STORAGE_FULL` error of a failed write, naming what could not be written. */
export function storageFullError(what: string, cause: unknown): ResourceError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new ResourceError('STORAGE_FULL', `${what} failed: the disk is full (${detail}); free space in the data folder and try again`, { cause });
}

/** `INTERNAL`: a failure of the host itself (a bug, or a system it uses that failed). Not retryable. */
export class InternalError extends ModelwatchError {
  constructor(code: 'INTERNAL', message: string, options?: ErrorOptions);
  constructor(message: string, options?: ErrorOptions);
  constructor(a: string, b?: string | ErrorOptions, c?: ErrorOptions) {
    super('INTERNAL', ...messageArgs(a, b, c));
  }
}

/** The family of every code: its class and whether an error of that code is retryable. */
export const ERROR_FAMILIES = {
  INVALID_OPTIONS: { error: InvalidOptionsError, retryable: false },
  INVALID_ARGUMENT: { error: InvalidArgumentError, retryable: false },
  INVALID_EVENT: { error: InvalidEventError, retryable: false },
  INVALID_REFERENCE: { error: InvalidReferenceError, retryable: false },
  NOT_FOUND: { error: NotFoundError, retryable: false },
  UNKNOWN_BUILTIN: { error: NotFoundError, retryable: false },
  CONFLICT: { error: ConflictError, retryable: false },
  IDEMPOTENCY_KEY_REUSED: { error: ConflictError, retryable: false },
  NATS_SERVER_NOT_FOUND: { error: NatsServerError, retryable: false },
  NATS_SERVER_FAILED: { error: NatsServerError, retryable: true },
  PLUGIN_BUILD_FAILED: { error: PluginError, retryable: false },
  PLUGIN_INVALID_MANIFEST: { error: PluginError, retryable: false },
  PLUGIN_LOAD_FAILED: { error: PluginError, retryable: false },
  PLUGIN_DRY_RUN_FAILED: { error: PluginError, retryable: false },
  APP_ERROR: { error: AppError, retryable: true },
  APP_TIMEOUT: { error: AppError, retryable: true },
  APP_MEMORY_LIMIT: { error: AppError, retryable: true },
  APP_INVALID_OUTPUT: { error: AppError, retryable: true },
  WINDOW_FAILED: { error: AppError, retryable: false },
  HTTP_ERROR: { error: HttpError, retryable: false },
  UNAUTHENTICATED: { error: AuthError, retryable: false },
  FORBIDDEN: { error: AuthError, retryable: false },
  BODY_TOO_LARGE: { error: HttpError, retryable: false },
  STORAGE_FULL: { error: ResourceError, retryable: true },
  REPLY_TOO_LARGE: { error: ResourceError, retryable: false },
  INTERNAL: { error: InternalError, retryable: false },
} as const satisfies Record<ErrorCode, { error: abstract new (...args: never[]) => ModelwatchError; retryable: boolean }>;

function familyOf(code: string): { error: FamilyClass; retryable: boolean } | undefined {
  if (!isErrorCode(code)) return undefined;
  const f = ERROR_FAMILIES[code];
  return { error: f.error as unknown as FamilyClass, retryable: f.retryable };
}

/** Whether a code is one of the host's (a code read from the wire may be any string). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_FAMILIES, code);
}

/** Whether an error of this code may succeed if the same operation is tried again. */
export function isRetryable(code: string): boolean {
  return isErrorCode(code) && ERROR_FAMILIES[code].retryable;
}

/** A family constructor's arguments `(message, options)`, or `(code, message, options)` as the base class is called. */
function messageArgs(a: string, b?: string | ErrorOptions, c?: ErrorOptions): [string, ErrorOptions | undefined] {
  return typeof b === 'string' ? [b, c] : [a, b];
}

export function isModelwatchError(err: unknown, code?: ErrorCode): err is ModelwatchError {
  return err instanceof ModelwatchError && (code === undefined || err.code === code);
}

export function errorData(err: unknown, fallback: ErrorCode = 'APP_ERROR'): ErrorData {
  if (err instanceof ModelwatchError) return { code: err.code, message: err.message, ...(err.pluginStack ? { stack: err.pluginStack } : {}) };
  if (err instanceof Error) return { code: fallback, message: err.message };
  return { code: fallback, message: String(err) };
}
