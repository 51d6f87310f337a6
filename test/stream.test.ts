import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Streams, Subjects, type DeadLetter } from '@modelwatch/protocol';
import { jsonCodec } from '../host/src/nats/codec.js';
import { HISTOGRAM_PLUGIN, publishDir, startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { waitFor } from './helpers/tmp.js';

async function deadLetters(nc: NatsConnection): Promise<DeadLetter[]> {
  const js = jetstream(nc);
  const info = await (await jetstreamManager(nc)).streams.info(Streams.dlq);
  if (info.state.messages === 0) return [];
  const c = await js.consumers.get(Streams.dlq);
  const out: DeadLetter[] = [];
  for await (const m of await c.fetch({ max_messages: info.state.messages, expires: 5000 })) {
    out.push(jsonCodec.decode<DeadLetter>(m.data));
    if (m.info.pending === 0) break;
  }
  return out;
}

/** Events published straight to NATS, as a Python model server would: good ones analysed, bad ones dead-lettered. */
describe('stream processor', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let nc: NatsConnection;
  const PERIOD = 1000;

  beforeAll(async () => {
    nats = await startTestNats();
    env = await startTestHost({ natsUrl: nats.url, basePeriod: PERIOD, allowedLateness: 300 });
    nc = await connect({ servers: nats.url });
    await publishDir(env.client, HISTOGRAM_PLUGIN);
  });

  afterAll(async () => {
    await nc?.close();
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  it('dead-letters bad input with its reason and never blocks the good events', async () => {
    await env.client.createEndpoint({ name: 'strict', featureNames: ['a', 'b'], labelNames: ['y'] });
    const js = jetstream(nc);
    const ws = Math.ceil((Date.now() + 1500) / PERIOD) * PERIOD;
    const good = (i: number) => ({ when: ws + i, inputs: [[i, i * 2]], outputs: [i % 2] });
    const enc = new TextEncoder();
    const sends: Array<[string, Uint8Array]> = [
      [Subjects.events('strict'), jsonCodec.encode(good(1))],
      [Subjects.events('strict'), enc.encode('{"inputs": [[1, 2]')],
      [Subjects.events('strict'), jsonCodec.encode(good(2))],
      [Subjects.events('strict'), jsonCodec.encode({ when: ws, inputs: [[1, 2, 3]], outputs: [0] })],
      [Subjects.events('strict'), jsonCodec.encode({ when: ws, outputs: [0] })],
      [Subjects.events('nobody'), jsonCodec.encode(good(3))],
      [Subjects.events('strict'), jsonCodec.encode({ when: Date.now() + 3_600_000, inputs: [[1, 2]], outputs: [0] })],
      [Subjects.events('strict'), jsonCodec.encode({ when: Date.now() - 3_600_000, inputs: [[1, 2]], outputs: [0] })],
      [Subjects.events('strict'), jsonCodec.encode([good(4), { when: ws, inputs: [{ a: 1, c: 2 }], outputs: [0] }, good(5)])],
      [Subjects.events('strict'), new Uint8Array([0xff, 0xfe, 0x00])],
    ];
    for (const [subject, data] of sends) await js.publish(subject, data);

    const letters = await waitFor('eight dead letters', async () => {
      const d = await deadLetters(nc);
      return d.length >= 8 ? d : undefined;
    });
    const reasons = letters.map((l) => `${l.endpoint} ${l.reason.code}: ${l.reason.message}`);
    expect(reasons).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^strict INVALID_JSON: not valid JSON/),
        expect.stringMatching(/^strict INVALID_EVENT: inputs\[0\]: 3 values, but the endpoint has 2 features \(a, b\)/),
        expect.stringMatching(/^strict INVALID_EVENT: inputs: missing/),
        expect.stringMatching(/^nobody UNKNOWN_ENDPOINT: no endpoint named 'nobody'/),
        expect.stringMatching(/^strict FUTURE_EVENT: when: .* is more than 300000 ms after arrival/),
        expect.stringMatching(/^strict LATE_EVENT: arrived \d+ ms after its window .* ended; allowed lateness is 300 ms/),
        expect.stringMatching(/^strict INVALID_EVENT: inputs\[0\]: unknown feature 'c'/),
      ]),
    );
    const binary = letters.find((l) => l.payloadEncoding === 'base64')!;
    expect(Buffer.from(binary.payload, 'base64')).toEqual(Buffer.from([0xff, 0xfe, 0x00]));
    const partial = letters.find((l) => /unknown feature 'c'/.test(l.reason.message))!;
    expect(partial.index).toBe(1);
    expect(JSON.parse(partial.payload)).toHaveLength(3);

    const w = await waitFor('the good events analysed', async () => (await env.client.results({ endpoint: 'strict' })).find((x) => x.windowStart === ws));
    expect(w.rows).toBe(4);
  });

  it('infers feature and output names from the first event when the endpoint has none (f0.., p0..)', async () => {
    await env.client.createEndpoint({ name: 'anon' });
    const ws = Math.ceil((Date.now() + 1000) / PERIOD) * PERIOD;
    await jetstream(nc).publish(Subjects.events('anon'), jsonCodec.encode({ when: ws, inputs: [[1, 2, 3]], outputs: [[0.1, 0.9]] }));
    const ep = await waitFor('inferred names', async () => {
      const e = await env.client.getEndpoint('anon');
      return e.featureNames.length ? e : undefined;
    });
    expect(ep.featureNames).toEqual(['f0', 'f1', 'f2']);
    expect(ep.labelNames).toEqual(['p0', 'p1']);
  });

  it('HTTP ingest accepts the good events of a batch and reports the bad ones by index', async () => {
    await env.client.createEndpoint({ name: 'http-batch', featureNames: ['a'], labelNames: ['y'] });
    const ws = Math.ceil((Date.now() + 1500) / PERIOD) * PERIOD;
    const r = await env.client.sendEvents('http-batch', [
      { when: ws, inputs: [[1]], outputs: [1] },
      { when: ws, inputs: [[1, 2]], outputs: [1] },
      { when: ws, inputs: [['x']], outputs: [1] },
      { when: 'yesterday-ish', inputs: [[1]] },
    ]);
    expect(r.accepted).toBe(2);
    expect(r.rejected).toEqual([
      { index: 1, error: expect.stringMatching(/inputs\[0\]: 2 values, but the endpoint has 1 features/) },
      { index: 3, error: expect.stringMatching(/when: 'yesterday-ish' is not a time/) },
    ]);
    await expect(env.client.sendEvents('nope', [{ inputs: [[1]] }])).rejects.toThrow(/no endpoint named 'nope'/);
    await expect(env.client.sendEvents('http-batch', { when: ws, inputs: 'x' })).rejects.toThrow(/inputs: expected a list of rows/);
    const w = await waitFor('the batch analysed', async () => (await env.client.results({ endpoint: 'http-batch' })).find((x) => x.windowStart === ws));
    expect(w.rows).toBe(2);
  });
});
