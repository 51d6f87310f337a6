import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { isNoResponders, isNotFound, isTimeout, isTransient } from '../host/src/nats/errors.js';
import { startNatsServer } from '../host/src/nats/server.js';
import { tempDir } from './helpers/tmp.js';

/** The client's own failures, as the host tells them apart (by the client's typed errors). */
describe('NATS errors by their types', () => {
  it('tells a missing stream or consumer, a request nobody serves and a request not answered in time apart', async () => {
    await using dir = await tempDir('mw-nats-errors-');
    await using nats = await startNatsServer({ dataDir: join(dir.path, 'nats') });
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      const noStream = await jsm.streams.info('MW_NOT_THERE').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isNotFound(noStream)).toBe(true);
      expect(isNoResponders(noStream) || isTimeout(noStream)).toBe(false);

      await jsm.streams.add({ name: 'MW_HERE', subjects: ['here.>'] });
      const noConsumer = await jsm.consumers.info('MW_HERE', 'nobody').then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isNotFound(noConsumer)).toBe(true);

      const unserved = await nc.request('mw.nobody.listens', 'ping', { timeout: 5_000 }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isNoResponders(unserved)).toBe(true);
      expect(isTimeout(unserved) || isNotFound(unserved)).toBe(false);

      const silent = nc.subscribe('mw.silent', { callback: () => undefined });
      await nc.flush();
      const unanswered = await nc.request('mw.silent', 'ping', { timeout: 200 }).then(
        () => undefined,
        (err: unknown) => err,
      );
      silent.unsubscribe();
      expect(isTimeout(unanswered)).toBe(true);
      expect(isNoResponders(unanswered) || isNotFound(unanswered)).toBe(false);
      expect(isNotFound(new Error('stream not found'))).toBe(false);
    } finally {
      await nc.close();
    }
  });

  it('tells NATS trouble that passes from a refusal that would come again', async () => {
    await using dir = await tempDir('mw-nats-errors-');
    await using nats = await startNatsServer({ dataDir: join(dir.path, 'nats') });
    const nc = await connect({ servers: nats.url });
    const caught = (p: Promise<unknown>) =>
      p.then(
        () => undefined,
        (err: unknown) => err,
      );
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'MW_SMALL', subjects: ['small.>'], max_msg_size: 8 });
      // a message over the stream's max_msg_size: refused again however often it is sent
      const tooBig = await caught(jetstream(nc).publish('small.x', 'more than eight bytes'));
      expect(tooBig).toBeInstanceOf(Error);
      expect(isTransient(tooBig)).toBe(false);
      expect(isTransient(new TypeError("Cannot read properties of null (reading 'name')"))).toBe(false);
      // nobody serves it (yet), no answer in time: it may pass
      expect(isTransient(await caught(nc.request('mw.nobody.listens', 'ping', { timeout: 5_000 })))).toBe(true);
      const silent = nc.subscribe('mw.silent', { callback: () => undefined });
      await nc.flush();
      expect(isTransient(await caught(nc.request('mw.silent', 'ping', { timeout: 200 })))).toBe(true);
      silent.unsubscribe();
      // the connection closed under the caller, and a failure that carries one as its cause
      await nc.close();
      const closed = await caught(nc.request('mw.silent', 'ping', { timeout: 200 }));
      expect(isTransient(closed)).toBe(true);
      expect(isTransient(new Error('could not store the series', { cause: closed }))).toBe(true);
    } finally {
      if (!nc.isClosed()) await nc.close();
    }
  });
});
