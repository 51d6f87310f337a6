import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  Consumers,
  DEAD_LETTER_STAGES,
  Streams,
  Subjects,
  type ServingCounts,
  type ServingLiveReply,
  type ServingMinuteMessage,
  type ServingPartMessage,
} from '@modelwatch/protocol';
import { systemClock, type Clock, type Timer } from '../clock.js';
import { addCounts, emptyCounts } from '../domain/counts.js';
import { dict } from '../domain/dict.js';
import type { Logger } from '../logger.js';
import { jsonCodec } from '../nats/codec.js';
import { deadLetterMessage } from '../nats/dead-letters.js';
import { LatencySketch, RangeSet } from './sketch.js';
import { processedWatermark } from './watermark.js';

interface OpenEndpoint {
  name: string;
  counts: ServingCounts;
  sketch: LatencySketch;
}

interface OpenInterval {
  start: number;
  /** Event messages counted, so a redelivered one never counts twice. */
  seen: RangeSet;
  endpoints: Map<string, OpenEndpoint>;
}

export interface ServingAggregatorDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  logger: Logger;
  /** @default 60 s */
  intervalMs?: number;
  /** How often to look for intervals to close. @default 500 ms */
  tickMs?: number;
  /** Wait this long after an interval's end (on top of the processor's watermark). @default 1 s */
  graceMs?: number;
  /** When an interval is due and when the next tick is. @default systemClock */
  clock?: Clock;
}

/**
 * Aggregates serving metrics per endpoint and interval (arrival time) from what the stream
 * processor reports, and publishes each interval once it is closed: when every event that
 * arrived before its end has been processed and reported. Reports are acknowledged only after
 * the intervals they count are published, so a crash loses nothing: the reports come back and
 * the open intervals are rebuilt (each event counted once, by its stream sequence), and a
 * re-published interval carries the same message id and is dropped.
 */
export class ServingAggregator {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private timer: Timer | undefined;
  private keepAlive: Timer | undefined;
  private ticking: Promise<void> | undefined;
  private liveSub: Subscription | undefined;
  private stopped = false;
  private readonly open = new Map<number, OpenInterval>();
  /** Reports held (not acknowledged), by stream sequence, with the last interval they count in. */
  private readonly held = new Map<number, { m: JsMsg; last: number }>();
  /** Intervals before this are closed: reports for them are late duplicates. */
  private closedBefore = 0;
  private readonly log: Logger;
  private readonly clock: Clock;
  readonly intervalMs: number;
  /** Intervals published since start. */
  published = 0;

  constructor(private readonly deps: ServingAggregatorDeps) {
    this.log = deps.logger.child({ component: 'serving' });
    this.intervalMs = deps.intervalMs ?? 60_000;
    this.clock = deps.clock ?? systemClock;
  }

  async start(): Promise<void> {
    const consumer = await this.deps.js.consumers.get(Streams.serving, Consumers.serving);
    this.messages = await consumer.consume({ max_messages: 1024 });
    this.loop = (async () => {
      for await (const m of this.messages!) {
        try {
          this.take(m);
        } catch (err) {
          // dead-lettered with the reason, once: never redelivered, never in the way of the reports behind it
          this.log.error({ err, seq: m.seq }, 'unreadable serving report; dead-lettered');
          await deadLetterMessage(
            this.deps.js,
            m,
            { stage: DEAD_LETTER_STAGES.serving, stream: Streams.serving, consumer: Consumers.serving },
            'INVALID_SERVING',
            `not a serving report: ${(err as Error).message}`,
          ).catch((e: unknown) => {
            this.log.warn({ err: e, seq: m.seq }, 'could not dead-letter a serving report; it will be redelivered');
            m.nak(1000);
          });
        }
      }
    })();
    this.liveSub = this.deps.nc.subscribe(Subjects.servingLive, {
      callback: (err, msg) => {
        if (err) return;
        // answered, never thrown: a reply NATS refuses (over its max payload) is logged
        try {
          msg.respond(jsonCodec.encode(this.live()));
        } catch (e) {
          this.log.warn({ err: e }, 'could not answer a live serving query');
        }
      },
    });
    const tick = async () => {
      if (this.stopped) return;
      this.ticking = this.close().catch((err: unknown) => this.log.warn({ err }, 'could not close serving intervals'));
      await this.ticking;
      if (!this.stopped) this.timer = this.clock.timeout(() => void tick(), this.deps.tickMs ?? 500);
    };
    this.timer = this.clock.timeout(() => void tick(), this.deps.tickMs ?? 500);
    // held reports are not redelivered while this aggregator is alive (ack wait 15 s, on the
    // server's clock: so this one is on the wall clock, whatever the aggregator's clock)
    this.keepAlive = systemClock.interval(() => {
      for (const h of this.held.values()) h.m.working();
    }, 5000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.cancel();
    this.keepAlive?.cancel();
    this.liveSub?.unsubscribe();
    await this.ticking;
    await this.messages?.close();
    await this.loop;
  }

  private take(m: JsMsg): void {
    const part = jsonCodec.decode<ServingPartMessage>(m.data);
    let last = -Infinity;
    for (const e of part.ev) {
      const [seq, start, epIndex] = e;
      if (start < this.closedBefore) continue;
      let iv = this.open.get(start);
      if (!iv) {
        iv = { start, seen: new RangeSet(), endpoints: new Map() };
        this.open.set(start, iv);
      }
      if (start > last) last = start;
      if (!iv.seen.add(seq) || epIndex < 0) continue;
      const [id, name] = part.eps[epIndex]!;
      let ep = iv.endpoints.get(id);
      if (!ep) {
        ep = { name, counts: emptyCounts(), sketch: new LatencySketch() };
        iv.endpoints.set(id, ep);
      }
      const c = ep.counts;
      c.requests += e[3];
      c.errors += e[4];
      c.predictions += e[5];
      c.estimatedPredictions += e[6];
      c.lateRows += e[7];
      c.dropped += e[10];
      // no times (null): the requests it counts were late (or their events refused): they move neither
      const firstAt = e[8];
      const lastAt = e[9];
      if (e[3] > 0 && firstAt !== null && lastAt !== null) {
        if (c.firstRequest === null || firstAt < c.firstRequest) c.firstRequest = firstAt;
        if (c.lastRequest === null || lastAt > c.lastRequest) c.lastRequest = lastAt;
      }
      const lat = e[11];
      for (let k = 0; k < lat.length; k += 2) ep.sketch.add(lat[k]!, lat[k + 1]!);
    }
    if (last === -Infinity) {
      m.ack(); // nothing open in it: every interval it counts is closed already
      return;
    }
    const prev = this.held.get(m.seq);
    this.held.set(m.seq, { m, last: Math.max(last, prev?.last ?? -Infinity) });
  }

  /** Counters of the open intervals, per endpoint. */
  live(): ServingLiveReply {
    // endpoint ids come from the reports on mw.serving.part, which anyone who may publish there writes
    const open: ServingLiveReply['open'] = dict();
    for (const iv of this.open.values()) {
      for (const [id, ep] of iv.endpoints) {
        const acc = (open[id] ??= { ...emptyCounts(), endpointName: ep.name });
        addCounts(acc, { ...ep.counts, latencyCount: ep.sketch.count, latencySum: ep.sketch.sum });
      }
    }
    return { open };
  }

  /** Publish every interval that is complete, then acknowledge the reports that only count closed intervals. */
  private async close(): Promise<void> {
    if (this.open.size === 0) return;
    const watermark = await processedWatermark(this.deps.jsm, this.clock.now());
    // every report of an event processed before the watermark is in the stream by now:
    // make sure this aggregator has taken all of them
    const ci = await this.deps.jsm.consumers.info(Streams.serving, Consumers.serving);
    if (ci.num_pending > 0 || ci.num_ack_pending > this.held.size) return;
    const due = [...this.open.keys()].filter((s) => s + this.intervalMs + (this.deps.graceMs ?? 1000) <= watermark).sort((a, b) => a - b);
    if (due.length === 0) return;
    for (const start of due) {
      const iv = this.open.get(start)!;
      await Promise.all(
        [...iv.endpoints].map(([id, ep]) => {
          if (ep.counts.requests === 0 && ep.counts.lateRows === 0 && ep.counts.dropped === 0) return undefined;
          const msg = this.minuteMessage(id, ep, start);
          return this.deps.js.publish(Subjects.servingMinute(id), jsonCodec.encode(msg), { msgID: `sm:${id}:${start}` });
        }),
      );
      this.open.delete(start);
      this.closedBefore = start + this.intervalMs;
      this.published++;
    }
    for (const [seq, h] of this.held) {
      if (h.last < this.closedBefore) {
        h.m.ack();
        this.held.delete(seq);
      }
    }
  }

  private minuteMessage(id: string, ep: OpenEndpoint, start: number): ServingMinuteMessage {
    const s = ep.sketch;
    const round = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);
    return {
      v: 1,
      endpointId: id,
      endpointName: ep.name,
      start,
      intervalMs: this.intervalMs,
      ...ep.counts,
      latencyCount: s.count,
      latencySum: s.sum,
      latencyAvg: s.count ? round(s.sum / s.count) : null,
      latencyP50: round(s.quantile(0.5)),
      latencyP99: round(s.quantile(0.99)),
      latencyMin: s.count ? s.min : null,
      latencyMax: s.count ? s.max : null,
      closedAt: this.clock.now(),
    };
  }
}
