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

/** Whether `p` settled (resolved or rejected) within `ms`. For a stop's steps whose failure is no matter. */
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return (
    (await within(
      p.then(
        () => true,
        () => true,
      ),
      ms,
    )) === true
  );
}
