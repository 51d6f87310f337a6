import { createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { outputKey } from './keys.js';

/** The window an output binding is computed over: its task's identity. */
export interface BoundWindow {
  endpointId: string;
  app: string;
  version: string;
  windowStart: number;
  windowEnd: number;
  shadow?: true;
}

/** Bytes of a new output binding key. */
export const BINDING_KEY_BYTES = 32;

/** The key of output bindings: its bytes, or (faster: imported once) a secret `KeyObject` ({@link bindingKeyObject}). */
export type BindingKey = Uint8Array | KeyObject;

/** The key's bytes as a secret key object, imported once instead of at every HMAC. */
export function bindingKeyObject(raw: Uint8Array): KeyObject {
  return createSecretKey(raw);
}

/** A new random key for output bindings. */
export function newBindingKey(): Buffer {
  return randomBytes(BINDING_KEY_BYTES);
}

/**
 * The output binding of a task: HMAC-SHA256, with the host's key, over the task's identity
 * (its idempotency key, version and window). The same task gets the same binding (a task
 * re-published after a crash is still a duplicate), and nobody without the key can compute
 * the binding of a window it was not given.
 */
export function outputBinding(key: BindingKey, w: BoundWindow): string {
  return createHmac('sha256', key)
    .update(
      ['mw-output-binding/1', outputKey(w), w.endpointId, w.app, w.version, String(w.windowStart), String(w.windowEnd), w.shadow ? 'shadow' : 'active'].join(
        '\n',
      ),
    )
    .digest('base64url');
}

/** Whether `binding` is the binding of `w` under `key` (compared in constant time). */
export function verifyBinding(key: BindingKey, w: BoundWindow, binding: string | undefined): boolean {
  if (typeof binding !== 'string' || binding.length === 0 || binding.length > 128) return false;
  const want = Buffer.from(outputBinding(key, w));
  const got = Buffer.from(binding);
  return want.length === got.length && timingSafeEqual(want, got);
}

/**
 * The message id of a window's output: its idempotency key, and with a binding, a part of the
 * binding too. JetStream drops a message whose id it has seen: without the binding's part, a
 * client that published first under the window's key would make the real output a duplicate.
 * A forger cannot know the binding, so it cannot take the real output's id.
 */
export function outputMsgId(w: BoundWindow, binding: string | undefined): string {
  return binding ? `${outputKey(w)}.${binding.slice(0, 22)}` : outputKey(w);
}
