/** Stable codes of the errors the SDK throws. */
export type SdkErrorCode = 'INVALID_OUTPUT' | 'INVALID_ARGUMENT' | 'INVALID_ARTIFACT';

/** Base class of the SDK's errors: a stable string `code` and an optional `cause`. */
export class ModelwatchSdkError extends Error {
  readonly code: SdkErrorCode;
  constructor(code: SdkErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelwatchSdkError';
    this.code = code;
  }
}

/** What an app returned is not a valid {@link AppOutput}; `message` says what is wrong. */
export class InvalidOutputError extends ModelwatchSdkError {
  constructor(message: string) {
    super('INVALID_OUTPUT', message);
    this.name = 'InvalidOutputError';
  }
}

export function isInvalidOutputError(err: unknown): err is InvalidOutputError {
  return err instanceof Error && (err as { code?: unknown }).code === 'INVALID_OUTPUT';
}
