import type { ErrorCode, ErrorData } from '@modelwatch/protocol';

export type { ErrorCode, ErrorData };

/** Base class of the host's errors: a stable `code`, a message that says what is wrong. */
export class ModelwatchError extends Error {
  readonly code: ErrorCode;
  /** For errors a plugin threw: its stack, mapped to the plugin's sources. */
  pluginStack?: string;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelwatchError';
    this.code = code;
  }
}

export function isModelwatchError(err: unknown, code?: ErrorCode): err is ModelwatchError {
  return err instanceof ModelwatchError && (code === undefined || err.code === code);
}

/** An event that is not valid: the message says what is wrong (and where, for an event of several). */
export class InvalidEventError extends ModelwatchError {
  constructor(message: string) {
    super('INVALID_EVENT', message);
    this.name = 'InvalidEventError';
  }
}

export function errorData(err: unknown, fallback: ErrorCode = 'APP_ERROR'): ErrorData {
  if (err instanceof ModelwatchError) return { code: err.code, message: err.message, ...(err.pluginStack ? { stack: err.pluginStack } : {}) };
  if (err instanceof Error) return { code: fallback, message: err.message };
  return { code: fallback, message: String(err) };
}
