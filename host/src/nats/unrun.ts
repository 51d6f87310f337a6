/**
 * Deliveries of a task that were not attempts of its window (KV `mw_deferrals`, key: the
 * window's output key): a runner counts a task it hands back unrun (its plugin had its share of
 * the runner's slots), and the supervisor counts the tasks a runner was working on when another
 * window crashed it (`CrashReport.bystanders`). A delivery's attempt number is its delivery count
 * less these, so neither neighbours nor a busy runner use up a window's attempts.
 */
import type { KV } from '@nats-io/kv';
import { isWrongLastSequence } from './errors.js';

/** Tries of the compare-and-set before a count is given up (a runner and the supervisor may count the same window at once). */
const COUNT_TRIES = 5;

/** The deliveries of a window counted as not attempts. */
export async function unrunDeliveries(kv: KV, key: string): Promise<number> {
  const e = await kv.get(key);
  return e && e.operation === 'PUT' ? Number(e.string()) || 0 : 0;
}

/**
 * Count one delivery of a window as not an attempt. A compare-and-set: two counters at once
 * (a runner handing the task back, the supervisor recording a crash) both count. Only a lost
 * compare-and-set is tried again: after any other failure (a timeout, say) the count may have been
 * stored, and counting again could count twice, where not counting at most charges an attempt.
 * @throws what the KV throws, or a conflict after {@link COUNT_TRIES} tries
 */
export async function countUnrunDelivery(kv: KV, key: string): Promise<void> {
  for (let i = 1; ; i++) {
    const e = await kv.get(key);
    const live = e && e.operation === 'PUT';
    const n = live ? Number(e.string()) || 0 : 0;
    try {
      if (live) await kv.update(key, String(n + 1), e.revision);
      else await kv.create(key, String(n + 1));
      return;
    } catch (err) {
      if (i >= COUNT_TRIES || !isWrongLastSequence(err)) throw err;
    }
  }
}
