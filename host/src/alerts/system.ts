/**
 * System rules: conditions of the deployment, not of a window, checked on a timer by the one
 * evaluator: the dead-letter rate (`MW_DLQ`, per endpoint or overall), runners answering over NATS,
 * the writer and the TSDB failing. Each check is an observation of a series moved by the same
 * `step` as windows (`for` counts checks, `reset: { auto: K }` K normal checks, silences and the
 * cooldown hold), so a system alert fires once per (rule, subject) while active and resolves by
 * itself when the condition clears.
 * @module
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Alert, AlertNotification } from './contract.js';
import { alertId, seriesKey, step, type SeriesState } from './evaluate.js';
import { TIMED_CONDITIONS, type CompiledRule } from './rules.js';
import type { AlertStore } from './store.js';

/** Where system rules read the deployment's state. */
export interface SystemProbes {
  /** Dead letters held in `MW_DLQ` now, by the endpoint of their subject (`mw.dlq.<endpoint>.<code>`). */
  deadLetters(): Promise<Record<string, number>>;
  /** Runners answering over NATS now (every runner of the deployment). */
  runners(): Promise<number>;
  /** Whether the writer is failing, and why. */
  writer(): Promise<{ failing: boolean; reason?: string }>;
  /** Whether the TSDB is failing (the writer's last write to it failed), and why; undefined: no TSDB here. */
  tsdb(): { failing: boolean; reason?: string } | undefined;
}

/** What the checks share with the evaluator: its series, open alerts, silences and notifier. */
export interface SystemCheckContext {
  rules(): readonly CompiledRule[];
  silenced(rule: string, endpoint: string | undefined, now: number): boolean;
  series(key: string): SeriesState;
  isOpen(id: string): boolean;
  endpointTags(name: string): Readonly<Record<string, string>> | undefined;
  alerts: AlertStore;
  notify(kind: AlertNotification['kind'], alert: Alert, rule: CompiledRule, at: number): Promise<void>;
  saveSeries(states: ReadonlyMap<string, SeriesState>): Promise<void>;
  /** An alert opened or resolved here (the evaluator's open alerts follow). */
  opened(alert: Alert): void;
  closed(id: string): void;
  clock: Clock;
  logger: Logger;
  /** Run after each check, on the same timer (the repeats). */
  afterCheck?(now: number): Promise<unknown>;
}

/** One check's verdict for one subject of a rule. */
interface Verdict {
  /** `system:<what>` or `system:<what>:<endpoint>`. */
  subject: string;
  endpoint?: string;
  breach: boolean;
  value?: number;
  /** What is wrong, for the summary. */
  what: string;
  result: string;
}

interface Sample {
  at: number;
  counts: Record<string, number>;
}

/** Runs the system rules each `intervalMs`, one check at a time. */
export class SystemChecks {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Dead-letter counts at each check (as far back as the longest `over`). */
  private samples: Sample[] = [];
  /** Endpoints seen with letters since start (their rate falls to 0 when they go). */
  private readonly letterEndpoints = new Set<string>();
  /** Checks made (for tests). */
  checks = 0;

  constructor(
    private readonly ctx: SystemCheckContext,
    /** None: the timed rules are not checked (the host gives them; a bare evaluator in a test may not). */
    private readonly probes: SystemProbes | undefined,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.check()
        .catch((err: unknown) => this.ctx.logger.error({ err }, 'could not check the system alert rules'))
        .finally(() => {
          this.running = undefined;
          if (!this.stopped) this.timer = setTimeout(tick, this.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One check of every system rule. */
  async check(): Promise<void> {
    const now = this.ctx.clock.now();
    const probes = this.probes;
    const rules = probes ? this.ctx.rules().filter((r) => TIMED_CONDITIONS.has(r.condition)) : [];
    const letters = probes && rules.some((r) => r.condition === 'dead_letter_rate') ? await this.sampleLetters(probes, now, rules) : undefined;
    let runners: Promise<number> | undefined;
    let writer: Promise<{ failing: boolean; reason?: string }> | undefined;
    const touched = new Map<string, SeriesState>();
    for (const rule of rules) {
      let verdicts: Verdict[];
      try {
        switch (rule.condition) {
          case 'dead_letter_rate':
            verdicts = letters ? this.letterVerdicts(rule, now) : [];
            break;
          case 'runners_below': {
            const n = await (runners ??= probes!.runners());
            verdicts = [
              {
                subject: 'system:runners',
                breach: n < rule.threshold,
                value: n,
                result: 'runners',
                what: `${n} runner(s) answer, fewer than ${rule.threshold}`,
              },
            ];
            break;
          }
          case 'writer_failing': {
            const w = await (writer ??= probes!.writer());
            verdicts = [{ subject: 'system:writer', breach: w.failing, result: 'writer', what: `the writer is failing${w.reason ? `: ${w.reason}` : ''}` }];
            break;
          }
          case 'tsdb_failing': {
            const t = probes!.tsdb();
            verdicts = t ? [{ subject: 'system:tsdb', breach: t.failing, result: 'tsdb', what: `the TSDB is failing${t.reason ? `: ${t.reason}` : ''}` }] : [];
            break;
          }
          default:
            verdicts = [];
        }
      } catch (err) {
        // a probe that cannot answer (NATS away): no observation, the series stays as it is
        this.ctx.logger.warn({ err, rule: rule.rule.name }, 'could not check a system alert rule');
        continue;
      }
      for (const v of verdicts) await this.observe(rule, v, now, touched);
    }
    if (touched.size) await this.ctx.saveSeries(touched);
    await this.ctx.afterCheck?.(now);
    this.checks++;
  }

  private async sampleLetters(probes: SystemProbes, now: number, rules: readonly CompiledRule[]): Promise<boolean> {
    let counts: Record<string, number>;
    try {
      counts = await probes.deadLetters();
    } catch (err) {
      this.ctx.logger.warn({ err }, 'could not read the dead-letter counts');
      return false;
    }
    for (const e of Object.keys(counts)) this.letterEndpoints.add(e);
    this.samples.push({ at: now, counts });
    const keep = Math.max(...rules.filter((r) => r.condition === 'dead_letter_rate').map((r) => r.overMs)) + this.intervalMs;
    // the newest sample older than the longest span stays: the base of its increase
    while (this.samples.length > 2 && this.samples[1]!.at <= now - keep) this.samples.shift();
    return true;
  }

  /** Letters added within (now - over, now] by endpoint (a purge or replay never counts as negative). */
  private increase(endpoint: string | undefined, since: number): number {
    let total = 0;
    for (let i = 1; i < this.samples.length; i++) {
      const cur = this.samples[i]!;
      if (cur.at <= since) continue;
      const prev = this.samples[i - 1]!;
      if (endpoint !== undefined) total += Math.max(0, (cur.counts[endpoint] ?? 0) - (prev.counts[endpoint] ?? 0));
      else for (const e of Object.keys(cur.counts)) total += Math.max(0, (cur.counts[e] ?? 0) - (prev.counts[e] ?? 0));
    }
    return total;
  }

  private letterVerdicts(rule: CompiledRule, now: number): Verdict[] {
    const perMinute = (n: number) => (n * 60_000) / rule.overMs;
    const over = `${rule.overMs / 1000} s`;
    if (rule.rule.endpoints === undefined) {
      const rate = perMinute(this.increase(undefined, now - rule.overMs));
      return [
        {
          subject: 'system:dead-letters',
          breach: rate > rule.threshold,
          value: rate,
          result: 'dead_letters_per_minute',
          what: `${rate.toFixed(1)} dead letters a minute over ${over}, more than ${rule.threshold}`,
        },
      ];
    }
    const out: Verdict[] = [];
    for (const e of this.letterEndpoints) {
      if (!rule.matchesEndpoint(e, this.ctx.endpointTags(e))) continue;
      const rate = perMinute(this.increase(e, now - rule.overMs));
      out.push({
        subject: `system:dead-letters:${e}`,
        endpoint: e,
        breach: rate > rule.threshold,
        value: rate,
        result: 'dead_letters_per_minute',
        what: `${rate.toFixed(1)} dead letters a minute for ${e} over ${over}, more than ${rule.threshold}`,
      });
    }
    return out;
  }

  private async observe(rule: CompiledRule, v: Verdict, now: number, touched: Map<string, SeriesState>): Promise<void> {
    const name = rule.rule.name;
    const key = seriesKey(name, v.subject);
    const s = this.ctx.series(key);
    if (now <= s.lastWindow) return;
    const open = s.alertId === undefined || this.ctx.isOpen(s.alertId);
    const t = step(rule, s, { windowStart: now, windowEnd: now, breach: v.breach }, this.ctx.silenced(name, v.endpoint, now), open);
    // checks are not windows: an alert lists none
    s.windows = [];
    touched.set(key, s);
    if (t === 'fire') {
      // derived from the end of the series' last episode (stored), not the check's time: a check
      // made again after a crash between the notification and the store fires the same alert
      const id = alertId(key, s.resolvedAt ?? 0);
      const tags = v.endpoint !== undefined ? this.ctx.endpointTags(v.endpoint) : undefined;
      const alert: Alert = {
        id,
        rule: name,
        severity: rule.severity,
        state: 'firing',
        ...(v.endpoint !== undefined && { endpoint: v.endpoint }),
        result: v.result,
        summary: `${name}: ${v.what}`,
        ...(v.value !== undefined && { value: v.value }),
        ...(rule.condition === 'dead_letter_rate' || rule.condition === 'runners_below' ? { threshold: rule.threshold } : {}),
        windows: [],
        labels: { ...tags, ...rule.rule.labels },
        startsAt: now,
      };
      await this.ctx.notify('firing', alert, rule, now);
      const stored = await this.ctx.alerts.open(alert);
      this.ctx.opened(stored);
      s.alertId = id;
    } else if (t === 'resolve' && s.alertId !== undefined) {
      const { alert, changed } = await this.ctx.alerts.resolve(s.alertId, now);
      if (changed) await this.ctx.notify('resolved', alert, rule, now);
      this.ctx.closed(s.alertId);
      s.alertId = undefined;
      s.resolvedAt = now;
    }
  }
}
