import type { KV } from '@nats-io/kv';
import type { Logger } from '../logger.js';

/** What the lease key holds: who holds it, and until when (ms since the epoch, the holder's clock). */
export interface LeaseRecord {
  holder: string;
  expiresAt: number;
}

export interface LeaseOptions {
  /** The bucket of leases (`mw_leases`). */
  kv: KV;
  /** The lease's key, e.g. `controller`. */
  key: string;
  /** Who asks: a node id, unique among the processes sharing the lease. */
  holder: string;
  logger: Logger;
  /** How long a lease lasts unless renewed. @default 4000 */
  ttlMs?: number;
  /** How often the holder renews it, and others try to take it. @default ttlMs / 4 */
  intervalMs?: number;
  /**
   * The only process of its role (one host on its NATS, no `--node-id`): it holds the lease from
   * `start` to `stop` without touching the bucket, so a NATS outage does not stop the work it guards.
   * @default false
   */
  alone?: boolean;
  /** Called once this process holds the lease: start the work it guards. */
  onAcquired: () => void | Promise<void>;
  /** Called once this process no longer holds it (lost, or at `stop`): stop that work. */
  onLost: () => void | Promise<void>;
}

/**
 * One active process among many, elected through a JetStream KV key: the holder writes
 * `{ holder, expiresAt }` by compare-and-set (the revision it last wrote) every `intervalMs`; a
 * process that finds the key absent, deleted, expired or its own takes it by compare-and-set, so of
 * several trying at once one wins. nats-server 2.9 has no per-message TTL: the expiry is a
 * timestamp in the record. The holder stops acting (`onLost`) once its last renewal is older than
 * `ttlMs` minus one interval, before any other may take it (`expiresAt`, on clocks that agree within
 * that interval); `stop` deletes the key so another takes over at its next try.
 *
 * The controller is guarded by it (key `controller`); any other role that must run once (the alert
 * evaluator) can be: `new Lease({ kv: buckets.leases, key: 'alerts', holder, onAcquired, onLost })`.
 */
export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private revision: number | undefined;
  /** Local time until which this process may act as holder. */
  private validUntil = 0;
  private holding = false;
  private stopped = false;
  private busy: Promise<void> = Promise.resolve();
  private readonly ttlMs: number;
  private readonly intervalMs: number;
  private readonly log: Logger;

  constructor(private readonly opts: LeaseOptions) {
    this.ttlMs = opts.ttlMs ?? 4000;
    this.intervalMs = opts.intervalMs ?? Math.max(50, Math.floor(this.ttlMs / 4));
    if (this.intervalMs * 2 > this.ttlMs) throw new RangeError(`lease: the interval (${this.intervalMs} ms) must be at most half the ttl (${this.ttlMs} ms)`);
    this.log = opts.logger.child({ component: 'lease', lease: opts.key, holder: opts.holder });
  }

  /** Whether this process holds the lease now (its last renewal is recent enough). */
  get held(): boolean {
    return this.holding && Date.now() < this.validUntil;
  }

  /** Try at once, then every interval. Resolves after the first try (`held` tells its outcome). */
  async start(): Promise<void> {
    this.stopped = false;
    if (this.opts.alone) {
      this.holding = true;
      this.validUntil = Infinity;
      await this.opts.onAcquired();
      return;
    }
    await this.step();
    this.schedule();
  }

  /** Stop trying; the holder calls `onLost` and gives the lease up (deletes the key) so another takes it at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.busy;
    if (this.holding) {
      await this.lose('stopped');
      if (this.revision !== undefined && !this.opts.alone) await this.opts.kv.delete(this.opts.key, { previousSeq: this.revision }).catch(() => undefined);
    }
  }

  /** Who holds the lease, as the bucket says (undefined: nobody, or expired). */
  async current(): Promise<LeaseRecord | undefined> {
    const e = await this.opts.kv.get(this.opts.key);
    if (!e || e.operation !== 'PUT') return undefined;
    const r = e.json<LeaseRecord>();
    return r.expiresAt > Date.now() ? r : undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.busy = this.step().finally(() => this.schedule());
    }, this.intervalMs);
  }

  private async step(): Promise<void> {
    try {
      if (this.holding) await this.renew();
      else await this.tryAcquire();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'lease: could not reach the bucket');
    }
    // a holder that could not renew in time stops acting before anyone may take over
    if (this.holding && Date.now() >= this.validUntil) await this.lose('not renewed in time');
  }

  private record(sentAt: number): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ holder: this.opts.holder, expiresAt: sentAt + this.ttlMs } satisfies LeaseRecord));
  }

  private async renew(): Promise<void> {
    const sentAt = Date.now();
    try {
      this.revision = await this.opts.kv.update(this.opts.key, this.record(sentAt), this.revision!);
      this.validUntil = sentAt + this.ttlMs - this.intervalMs;
    } catch (err) {
      if (isWrongSequence(err)) await this.lose('taken by another');
      else throw err;
    }
  }

  private async tryAcquire(): Promise<void> {
    const { kv, key, holder } = this.opts;
    const e = await kv.get(key);
    const sentAt = Date.now();
    try {
      if (!e || e.operation !== 'PUT') {
        // absent, or deleted by a holder that stopped: create (absent) or update its revision (deleted)
        this.revision = e ? await kv.update(key, this.record(sentAt), e.revision) : await kv.create(key, this.record(sentAt));
      } else {
        const r = e.json<LeaseRecord>();
        if (r.holder !== holder && r.expiresAt > sentAt) return;
        this.revision = await kv.update(key, this.record(sentAt), e.revision);
      }
    } catch (err) {
      // another got there first
      if (isWrongSequence(err)) return;
      throw err;
    }
    this.validUntil = sentAt + this.ttlMs - this.intervalMs;
    this.holding = true;
    this.log.info('lease acquired');
    try {
      await this.opts.onAcquired();
    } catch (err) {
      this.log.error({ err }, 'lease: starting the guarded work failed; giving the lease up');
      await this.lose('start failed');
      await kv.delete(key, { previousSeq: this.revision }).catch(() => undefined);
    }
  }

  private async lose(why: string): Promise<void> {
    if (!this.holding) return;
    this.holding = false;
    this.validUntil = 0;
    if (why === 'stopped') this.log.info('lease given up');
    else this.log.warn({ why }, 'lease lost');
    try {
      await this.opts.onLost();
    } catch (err) {
      this.log.error({ err }, 'lease: stopping the guarded work failed');
    }
  }
}

function isWrongSequence(err: unknown): boolean {
  const e = err as { message?: string; api_error?: { err_code?: number }; code?: unknown };
  // JetStream: "wrong last sequence" (10071), or "key exists" on create
  return e.api_error?.err_code === 10071 || /wrong last sequence|key exists/i.test(e.message ?? '');
}
