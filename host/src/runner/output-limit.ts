import type { ErrorData } from '../errors.js';
import { MAX_OUTPUT_CHARS } from './isolate/contract.js';

/**
 * Bytes of the NATS server's max payload an output leaves free: the headers of its publish (its
 * message id), and the room the writer keeps in a results reply (a page is the max payload less
 * 64 KiB, `writer.ts`), so that every window stored can be read back.
 */
export const OUTPUT_HEADROOM_BYTES = 65 * 1024;

/** The largest output message (JSON bytes) a NATS server of this max payload takes. */
export function outputBytesLimit(maxPayload: number): number {
  return Math.max(0, maxPayload - OUTPUT_HEADROOM_BYTES);
}

/**
 * The failure of a window whose output is larger than the NATS server takes in one message: the
 * app's (`APP_INVALID_OUTPUT`, as an output over the sandbox's limit), never NATS trouble, which
 * would run the window again and again for the same refusal.
 */
export function outputTooLarge(bytes: number, maxPayload: number): ErrorData {
  return {
    code: 'APP_INVALID_OUTPUT',
    message:
      `returned an output of ${bytes} bytes, over the ${outputBytesLimit(maxPayload)} bytes an output may have on this NATS server ` +
      `(its max_payload of ${maxPayload} bytes, less ${OUTPUT_HEADROOM_BYTES / 1024} KiB kept for headers and replies): ` +
      `return fewer results and metrics, or raise the server's max_payload (the nats-server a host starts itself allows 16 MiB)`,
  };
}

/** Whether outputs the sandbox allows (MAX_OUTPUT_CHARS of JSON) can be too large for a server of this max payload. */
export function limitsOutputs(maxPayload: number): boolean {
  return outputBytesLimit(maxPayload) < MAX_OUTPUT_CHARS;
}
