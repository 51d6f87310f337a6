/**
 * `p`'s value, or `undefined` once `ms` have passed (`p` goes on, unheard; its rejection is
 * handled). For the steps of a stop that wait on NATS and must not wait for ever.
 */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
