/**
 * An object without a prototype, for keys taken from outside (names, subject tokens, JSON keys):
 * `__proto__` or `constructor` is an ordinary key of it, never `Object.prototype` or `Object`.
 * JSON.stringify writes it as any object. Use a `Map` where the object is not a reply.
 */
export function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}
