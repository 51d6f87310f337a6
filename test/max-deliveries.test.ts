import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Streams, Subjects } from '@modelwatch/protocol';
import { startTestHost } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { waitFor } from './helpers/tmp.js';

/**
 * A consumer whose last delivery is lost (its process died before it dead-lettered the message)
 * leaves the message to nobody: the server drops it from the consumer and says so only in a
 * MAX_DELIVERIES advisory. The host dead-letters such messages from the advisory. Here the lost
 * last delivery is real: a consumer with one delivery that takes a message and never answers.
 */
describe('messages a consumer gave up on without a letter are dead-lettered from the server advisory', () => {
  let nats: Awaited<ReturnType<typeof startTestNats>>;
  let env: Awaited<ReturnType<typeof startTestHost>>;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startTestNats();
    env = await startTestHost({ natsUrl: nats.url });
    nc = await connect({ servers: nats.url });
  });
  afterAll(async () => {
    await nc?.close();
    await env?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
  });

  /** Take the next message of `subject` in `stream` with a one-delivery consumer and never acknowledge it. */
  async function loseLastDelivery(stream: string, subject: string, consumer: string, publish: () => Promise<number>): Promise<number> {
    const jsm = await jetstreamManager(nc);
    await jsm.consumers.add(stream, {
      durable_name: consumer,
      filter_subject: subject,
      ack_policy: AckPolicy.Explicit,
      max_deliver: 1,
      ack_wait: 1_000_000_000,
    });
    const seq = await publish();
    const c = await jetstream(nc).consumers.get(stream, consumer);
    const m = await c.next({ expires: 10_000 });
    expect(m?.seq).toBe(seq);
    // no ack, no nak, no term: as if the process died holding it; the consumer pulls on (as a
    // live one does), and the server, due to deliver it again, gives up instead
    expect(await c.next({ expires: 3_000 })).toBeNull();
    return seq;
  }

  it('an output: a letter under _outputs naming the stream, the consumer, the sequence and the deliveries', async () => {
    // a well-formed output without a binding: the writer refuses it (acknowledged, no letter), so
    // the only letter can come from the probe's advisory
    const output = {
      v: 1,
      endpointId: 'probe0id',
      endpointName: 'probe',
      app: 'row-count',
      version: '1.0.0',
      windowStart: 1000,
      windowEnd: 2000,
      outcome: 'ok',
      rows: 3,
      results: [],
      metrics: [],
      durationMs: 1,
      completedAt: 2100,
      runner: 'r',
    };
    const subject = Subjects.outputs(output.endpointId);
    const payload = JSON.stringify(output);
    const seq = await loseLastDelivery(Streams.outputs, subject, 'probe-outputs', async () => (await jetstream(nc).publish(subject, payload)).seq);
    const letter = await waitFor('a MAX_DELIVERIES letter of the output', async () =>
      (await env.client.deadLetters({ endpoint: '_outputs', reason: 'MAX_DELIVERIES' })).letters.find((l) => l.origin?.consumer === 'probe-outputs'),
    );
    expect(letter.origin).toEqual({ stream: Streams.outputs, consumer: 'probe-outputs', subject, seq, deliveries: 1 });
    expect((await env.client.deadLetter(letter.seq)).payload).toBe(payload);
    expect(letter.reason.message).toMatch(/consumer probe-outputs of MW_OUTPUTS gave up on it after 1 deliveries/);
  });

  it('an event: a replayable letter under its endpoint, with its sequence in MW_EVENTS', async () => {
    await env.client.createEndpoint({ name: 'advised', featureNames: ['x'] });
    const subject = Subjects.events('advised');
    const body = JSON.stringify({ inputs: [[1]], outputs: [0] });
    const seq = await loseLastDelivery(Streams.events, subject, 'probe-events', async () => (await jetstream(nc).publish(subject, body)).seq);
    const letter = await waitFor('a MAX_DELIVERIES letter of the event', async () =>
      (await env.client.deadLetters({ endpoint: 'advised', reason: 'MAX_DELIVERIES' })).letters.find((l) => l.eventSeq === seq),
    );
    expect(letter).toMatchObject({ endpoint: 'advised', payload: body, payloadScope: 'message', source: 'nats' });
  });
});
