/**
 * Time as the host's loops see it: the controller (when a window is due, how often it looks),
 * the serving aggregator (when an interval closes, how often it looks, the reports it keeps
 * alive) and the watermark (now, when the stream processor is idle). The host runs on
 * {@link systemClock}; a test hands in a clock it moves itself (`host/test/manual-clock.ts`), so
 * it decides when a window is due instead of waiting for the wall clock.
 *
 * Times that come from NATS (a message's JetStream timestamp: an event's arrival) are the
 * server's clock and stay so: a clock of the host's cannot move them.
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
