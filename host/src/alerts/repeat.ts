/**
 * Repeat notifications: an alert still firing (not acknowledged, not resolved, not silenced) is
 * notified again every `repeatInterval` of its rule. The n-th repeat's key is
 * `<alert id>:repeat:<n>`, n counted from the alert's start, so a repeat enqueued again (a check
 * made twice, a restart within the interval) is the same notification, which the notifier's
 * outbox stores once.
 * @module
 */
import type { Alert, AlertNotification } from './contract.js';
import type { CompiledRule } from './rules.js';

export interface RepeatContext {
  /** The open alerts (firing or acknowledged). */
  open(): Iterable<Alert>;
  rule(name: string): CompiledRule | undefined;
  silenced(rule: string, endpoint: string | undefined, now: number): boolean;
  notify(kind: AlertNotification['kind'], alert: Alert, rule: CompiledRule, at: number, n: number): Promise<void>;
}

/** The repeat number of an alert at `now`: whole intervals since it started. */
export const repeatNumber = (alert: Alert, intervalMs: number, now: number): number => Math.max(0, Math.floor((now - alert.startsAt) / intervalMs));

/** Which repeats were sent (in memory: a new evaluator starts from the current number and never repeats one twice). */
export class Repeats {
  private readonly sent = new Map<string, number>();

  /** Enqueue the repeats due at `now`. */
  async check(ctx: RepeatContext, now: number): Promise<number> {
    let enqueued = 0;
    const seen = new Set<string>();
    for (const a of ctx.open()) {
      seen.add(a.id);
      const rule = ctx.rule(a.rule);
      if (!rule || rule.repeatMs <= 0) continue;
      const n = repeatNumber(a, rule.repeatMs, now);
      const last = this.sent.get(a.id);
      // first sight (a new alert, or the evaluator just started): the next number is the first repeat
      if (last === undefined) {
        this.sent.set(a.id, n);
        continue;
      }
      if (n <= last || a.state !== 'firing') continue;
      this.sent.set(a.id, n);
      // muted, it is not sent; when the silence ends, the next interval repeats it
      if (ctx.silenced(a.rule, a.endpoint, now)) continue;
      await ctx.notify('repeat', a, rule, now, n);
      enqueued++;
    }
    for (const id of this.sent.keys()) if (!seen.has(id)) this.sent.delete(id);
    return enqueued;
  }
}
