/** Stable codes of the host's errors. */
export type ErrorCode =
  | 'INVALID_OPTIONS'
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'NATS_SERVER_NOT_FOUND'
  | 'NATS_SERVER_FAILED'
  | 'PLUGIN_BUILD_FAILED'
  | 'PLUGIN_INVALID_MANIFEST'
  | 'PLUGIN_LOAD_FAILED'
  | 'PLUGIN_DRY_RUN_FAILED'
  | 'APP_ERROR'
  | 'APP_TIMEOUT'
  | 'APP_MEMORY_LIMIT'
  | 'APP_INVALID_OUTPUT'
  | 'INVALID_EVENT'
  | 'INVALID_REFERENCE'
  | 'HTTP_ERROR';

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

/** Plain data for an error that crosses a process or the sandbox. */
export interface ErrorData {
  code: ErrorCode | string;
  message: string;
  /** The plugin's stack, mapped to its sources (file:line:column), for errors it threw. */
  stack?: string;
}

export function errorData(err: unknown, fallback: ErrorCode = 'APP_ERROR'): ErrorData {
  if (err instanceof ModelwatchError) return { code: err.code, message: err.message, ...(err.pluginStack ? { stack: err.pluginStack } : {}) };
  if (err instanceof Error) return { code: fallback, message: err.message };
  return { code: fallback, message: String(err) };
}
