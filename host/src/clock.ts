/**
 * Time as the host's loops see it: the controller (when a window is due, how often it looks),
 * the serving aggregator (when an interval closes, how often it looks) and the watermark (now,
 * when the stream processor is idle). The host runs on {@link systemClock}; a test hands in a
 * clock it moves itself (`host/test/manual-clock.ts`), so it decides when a window is due
 * instead of waiting for the wall clock.
 *
 * Times that are the server's stay the wall clock's: a message's JetStream timestamp (an
 * event's arrival), and the keep-alives that beat a consumer's ack wait. So a clock handed to a
 * host may lag the wall clock but must never lead it: the controller would close windows that
 * rows may still reach.
 */
export interface Clock {
  /** Milliseconds since the epoch, as `Date.now()`. */
  now(): number;
  /** Call `fn` once, `ms` from now (as `setTimeout`). */
  timeout(fn: () => void, ms: number): Timer;
  /** Call `fn` every `ms` (as `setInterval`). */
  interval(fn: () => void, ms: number): Timer;
}

/** A scheduled call; `cancel()` is idempotent and harmless after the call ran. */
export interface Timer {
  cancel(): void;
}

/** The wall clock and Node's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  timeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
  interval(fn, ms) {
    const t = setInterval(fn, ms);
    return { cancel: () => clearInterval(t) };
  },
};

/**
 * `p`'s value, or `undefined` once `ms` of wall-clock time have passed (`p` goes on, unheard; its
 * rejection is handled). For the steps of a stop that wait on NATS and must not wait for ever.
 */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** `p`'s value; rejected with `message` once `ms` have passed without one. For an answer a caller must have in time (a probe). */
export async function withinOrFail<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  const answer = await within(
    p.then((value) => ({ value })),
    ms,
  );
  if (!answer) throw new Error(message);
  return answer.value;
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
