import type { ConsumerMessages, JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { Logger } from '../logger.js';
import { windowAt } from '../controller/windows.js';
import { jsonCodec } from '../nats/codec.js';
import type { RowBatch } from '../nats/messages.js';
import { Consumers, Streams, Subjects } from '../nats/subjects.js';
import { updateJson, type EndpointRecord } from '../store/endpoints.js';
import type { MonitoringSettings } from '../store/settings.js';
import { SETTINGS_KEY } from '../store/settings.js';
import type { WatchedKv } from '../store/watched-kv.js';
import { payloadText, publishDeadLetter } from './dlq.js';
import { appendEventRows, emptyRows, inferNames, InvalidEventError, type Rows } from './events.js';

export interface StreamProcessorDeps {
  js: JetStreamClient;
  endpointsKv: KV;
  endpoints: WatchedKv<EndpointRecord>;
  settings: WatchedKv<MonitoringSettings>;
  logger: Logger;
  allowedLatenessMs: number;
  maxFutureSkewMs: number;
  /** Messages processed at once. @default 64 */
  concurrency?: number;
}

/**
 * Consumes inference events, validates them against their endpoint, assigns each row to
 * its window by event time, and stores the rows by window. Bad input goes to the dead-letter
 * stream with its reason; nothing here throws out of the loop.
 */
export class StreamProcessor {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private readonly log: Logger;

  constructor(private readonly deps: StreamProcessorDeps) {
    this.log = deps.logger.child({ component: 'stream' });
  }

  async start(): Promise<void> {
    const consumer = await this.deps.js.consumers.get(Streams.events, Consumers.stream);
    this.messages = await consumer.consume({ max_messages: 1024 });
    const limit = this.deps.concurrency ?? 64;
    this.loop = (async () => {
      for await (const m of this.messages!) {
        const p = this.handle(m).finally(() => this.inflight.delete(p));
        this.inflight.add(p);
        if (this.inflight.size >= limit) await Promise.race(this.inflight);
      }
    })();
  }

  async stop(): Promise<void> {
    await this.messages?.close();
    await this.loop;
    await Promise.allSettled([...this.inflight]);
  }

  private async handle(m: JsMsg): Promise<void> {
    try {
      await this.process(m);
      m.ack();
    } catch (err) {
      // Infrastructure trouble (NATS down, timeouts): let JetStream redeliver.
      this.log.warn({ err, seq: m.seq }, 'event not processed, will be redelivered');
      m.nak(1000);
    }
  }

  private async process(m: JsMsg): Promise<void> {
    const arrival = Math.floor(m.info.timestampNanos / 1e6);
    const name = m.subject.slice(Subjects.events('').length);
    const dead = (code: string, message: string, index?: number) =>
      publishDeadLetter(
        this.deps.js,
        { endpoint: name, reason: { code, message }, source: m.headers?.get('Mw-Source') || 'nats', receivedAt: arrival, ...payloadText(m.data), ...(index !== undefined ? { index } : {}) },
        `${m.seq}:${index ?? -1}`,
      );
    let body: unknown;
    try {
      body = jsonCodec.decode(m.data);
    } catch (err) {
      await dead('INVALID_JSON', `not valid JSON: ${(err as Error).message}`);
      return;
    }
    let endpoint = await this.deps.endpoints.get(name);
    if (!endpoint) {
      await dead('UNKNOWN_ENDPOINT', `no endpoint named '${name}': create it first (modelwatch endpoint create --name ${name})`);
      return;
    }
    const events = Array.isArray(body) ? body : [body];
    if (endpoint.featureNames.length === 0 || endpoint.labelNames.length === 0) {
      endpoint = await this.inferNames(endpoint, events[0]);
    }
    const settings = await this.deps.settings.get(SETTINGS_KEY);
    const periods = settings?.periods ?? [{ fromMs: 0, periodMs: 600_000 }];
    const byWindow = new Map<number, Rows>();
    for (let i = 0; i < events.length; i++) {
      const rows = emptyRows();
      try {
        appendEventRows(events[i], endpoint, arrival, rows);
      } catch (err) {
        if (!(err instanceof InvalidEventError)) throw err;
        await dead('INVALID_EVENT', err.message, Array.isArray(body) ? i : undefined);
        continue;
      }
      const t = rows.ts[0]!;
      if (t > arrival + this.deps.maxFutureSkewMs) {
        await dead('FUTURE_EVENT', `when: ${new Date(t).toISOString()} is more than ${this.deps.maxFutureSkewMs} ms after arrival (${new Date(arrival).toISOString()})`, Array.isArray(body) ? i : undefined);
        continue;
      }
      const w = windowAt(t, periods);
      if (arrival > w.end + this.deps.allowedLatenessMs) {
        await dead(
          'LATE_EVENT',
          `arrived ${arrival - w.end} ms after its window [${new Date(w.start).toISOString()}, ${new Date(w.end).toISOString()}) ended; allowed lateness is ${this.deps.allowedLatenessMs} ms`,
          Array.isArray(body) ? i : undefined,
        );
        continue;
      }
      const acc = byWindow.get(w.start);
      if (!acc) byWindow.set(w.start, rows);
      else {
        acc.ts.push(...rows.ts);
        acc.x.push(...rows.x);
        acc.y.push(...rows.y);
        acc.rid.push(...rows.rid);
        acc.lat.push(...rows.lat);
      }
    }
    await Promise.all(
      [...byWindow].map(([start, rows]) =>
        this.deps.js.publish(Subjects.rows(endpoint.id, start), jsonCodec.encode({ v: 1, ...rows } satisfies RowBatch), {
          msgID: `${m.seq}:${start}`,
        }),
      ),
    );
  }

  private async inferNames(endpoint: EndpointRecord, event: unknown): Promise<EndpointRecord> {
    const names = inferNames(event, endpoint);
    if (!names.featureNames && !names.labelNames) return endpoint;
    const updated = await updateJson<EndpointRecord>(this.deps.endpointsKv, endpoint.name, (cur) => {
      if (!cur) return undefined;
      const next = { ...cur };
      let changed = false;
      if (cur.featureNames.length === 0 && names.featureNames) {
        next.featureNames = names.featureNames;
        changed = true;
      }
      if (cur.labelNames.length === 0 && names.labelNames) {
        next.labelNames = names.labelNames;
        changed = true;
      }
      if (!changed) return undefined;
      next.updatedAt = Date.now();
      return next;
    });
    if (updated && updated !== endpoint) this.log.info({ endpoint: endpoint.name, ...names }, 'inferred feature and output names');
    return updated ?? endpoint;
  }
}
