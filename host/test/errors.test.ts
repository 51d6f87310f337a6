import { describe, expect, it } from 'vitest';
import {
  AppError,
  ConflictError,
  errorData,
  ERROR_FAMILIES,
  InternalError,
  InvalidArgumentError,
  InvalidEventError,
  InvalidOptionsError,
  InvalidReferenceError,
  isErrorCode,
  isModelwatchError,
  isRetryable,
  ModelwatchError,
  NatsServerError,
  NotFoundError,
  PluginError,
  HttpError,
  AuthError,
  isStorageFull,
  ResourceError,
  storageFullError,
  type ErrorCode,
} from '../src/errors.js';

describe('host errors: one class per failure family', () => {
  it('builds the family of the code from the base constructor, with its code, message, name and cause', () => {
    const cause = new Error('underneath');
    const e = new ModelwatchError('NOT_FOUND', "no endpoint named 'x'", { cause });
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e).toBeInstanceOf(ModelwatchError);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('NotFoundError');
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toBe("no endpoint named 'x'");
    expect(e.cause).toBe(cause);
    expect(e.retryable).toBe(false);
    expect(isModelwatchError(e, 'NOT_FOUND')).toBe(true);
    expect(isModelwatchError(e, 'CONFLICT')).toBe(false);
  });

  it('maps every code to its family class and retryable flag', () => {
    const expected: Record<ErrorCode, [abstract new (...a: never[]) => ModelwatchError, boolean]> = {
      INVALID_OPTIONS: [InvalidOptionsError, false],
      INVALID_ARGUMENT: [InvalidArgumentError, false],
      INVALID_EVENT: [InvalidEventError, false],
      INVALID_REFERENCE: [InvalidReferenceError, false],
      NOT_FOUND: [NotFoundError, false],
      UNKNOWN_BUILTIN: [NotFoundError, false],
      CONFLICT: [ConflictError, false],
      IDEMPOTENCY_KEY_REUSED: [ConflictError, false],
      NATS_SERVER_NOT_FOUND: [NatsServerError, false],
      NATS_SERVER_FAILED: [NatsServerError, true],
      PLUGIN_BUILD_FAILED: [PluginError, false],
      PLUGIN_INVALID_MANIFEST: [PluginError, false],
      PLUGIN_LOAD_FAILED: [PluginError, false],
      PLUGIN_DRY_RUN_FAILED: [PluginError, false],
      APP_ERROR: [AppError, true],
      APP_TIMEOUT: [AppError, true],
      APP_MEMORY_LIMIT: [AppError, true],
      APP_INVALID_OUTPUT: [AppError, true],
      WINDOW_FAILED: [AppError, false],
      HTTP_ERROR: [HttpError, false],
      UNAUTHENTICATED: [AuthError, false],
      FORBIDDEN: [AuthError, false],
      BODY_TOO_LARGE: [HttpError, false],
      STORAGE_FULL: [ResourceError, true],
      REPLY_TOO_LARGE: [ResourceError, false],
      INTERNAL: [InternalError, false],
    };
    expect(Object.keys(ERROR_FAMILIES).sort()).toEqual(Object.keys(expected).sort());
    for (const [code, [cls, retryable]] of Object.entries(expected) as [ErrorCode, [abstract new (...a: never[]) => ModelwatchError, boolean]][]) {
      const e = new ModelwatchError(code, `a ${code}`);
      expect(e, code).toBeInstanceOf(cls);
      expect(e.code).toBe(code);
      expect(e.message).toBe(`a ${code}`);
      expect(e.retryable, code).toBe(retryable);
      expect(isRetryable(code)).toBe(retryable);
      expect(isErrorCode(code)).toBe(true);
    }
  });

  it('builds the same error from the family class, with or without the code', () => {
    const a = new InvalidEventError("row 2: feature 'x' is missing");
    const b = new InvalidEventError('INVALID_EVENT', "row 2: feature 'x' is missing");
    for (const e of [a, b]) {
      expect(e).toMatchObject({ name: 'InvalidEventError', code: 'INVALID_EVENT', message: "row 2: feature 'x' is missing", retryable: false });
    }
    const t = new AppError('APP_TIMEOUT', 'did not finish');
    expect(t).toMatchObject({ name: 'AppError', code: 'APP_TIMEOUT', retryable: true });
  });

  it('keeps a code it does not know (read from the wire) as a plain, not retryable error', () => {
    const e = new ModelwatchError('FST_ERR_VALIDATION' as ErrorCode, 'body/name must be string');
    expect(e.constructor).toBe(ModelwatchError);
    expect(e).toMatchObject({ name: 'ModelwatchError', code: 'FST_ERR_VALIDATION', retryable: false });
    expect(isErrorCode('FST_ERR_VALIDATION')).toBe(false);
    expect(isRetryable('FST_ERR_VALIDATION')).toBe(false);
  });

  it('turns errors into plain data with the plugin stack, other errors under the fallback code', () => {
    const e = new ModelwatchError('APP_ERROR', 'app@1 threw: boom');
    e.pluginStack = 'Error: boom\n    at src/index.ts:3:9';
    expect(errorData(e)).toEqual({ code: 'APP_ERROR', message: 'app@1 threw: boom', stack: 'Error: boom\n    at src/index.ts:3:9' });
    expect(errorData(new TypeError('x is not a function'), 'INTERNAL')).toEqual({ code: 'INTERNAL', message: 'x is not a function' });
    expect(errorData('a string')).toEqual({ code: 'APP_ERROR', message: 'a string' });
  });

  it("tells a full disk from other failures, through causes: ENOSPC, LevelDB's message, JetStream's insufficient resources", () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    expect(isStorageFull(enospc)).toBe(true);
    expect(isStorageFull(new Error('batch failed', { cause: new Error('IO error: /d/000005.log: No space left on device') }))).toBe(true);
    expect(isStorageFull(Object.assign(new Error('insufficient resources'), { api_error: { err_code: 10023 } }))).toBe(true);
    expect(isStorageFull(new Error('timeout'))).toBe(false);
    expect(isStorageFull(undefined)).toBe(false);
    const e = storageFullError('storing window w', enospc);
    expect(e).toBeInstanceOf(ResourceError);
    expect(e.code).toBe('STORAGE_FULL');
    expect(e.retryable).toBe(true);
    expect(e.message).toMatch(/^storing window w failed: the disk is full \(ENOSPC.*\); free space in the data folder and try again$/);
  });
});
