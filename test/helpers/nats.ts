import { join } from 'node:path';
import { jetstream, jetstreamManager, type ConsumerInfo, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { isNotFound } from '../../host/src/nats/errors.js';
import { ensureTopology, type TopologyOptions } from '../../host/src/nats/topology.js';
import { startNatsServer, type NatsServerHandle } from '../../host/src/nats/server.js';
import { tempDir } from './tmp.js';

/**
 * A real nats-server with JetStream on a free port and a temp store; stop it with `await using`
 * (or its `Symbol.asyncDispose`: `stop()` and `kill()` end the server but leave its store).
 */
export async function startTestNats(opts: { maxPayloadBytes?: number } = {}): Promise<NatsServerHandle & { dataDir: string }> {
  const dir = await tempDir('mw-nats-');
  const server = await startNatsServer({ dataDir: join(dir.path, 'nats'), ...opts }).catch(async (err: unknown) => {
    await dir[Symbol.asyncDispose]();
    throw err;
  });
  return {
    ...server,
    url: server.url,
    port: server.port,
    pid: server.pid,
    dataDir: dir.path,
    stop: server.stop,
    kill: server.kill,
    [Symbol.asyncDispose]: async () => {
      await server.stop();
      await dir[Symbol.asyncDispose]();
    },
  };
}

/** A test nats-server with the host's streams and buckets, and a connection to it. */
export interface TestTopology {
  nats: Awaited<ReturnType<typeof startTestNats>>;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Closes the connection, stops the server and removes its store. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * {@link startTestNats}, connected, with the host's topology (`ensureTopology`: its streams and
 * buckets, with `opts`' topology options; `retentionMs` 1 hour unless given).
 */
export async function startTestTopology(opts: { maxPayloadBytes?: number } & Partial<TopologyOptions> = {}): Promise<TestTopology> {
  const { maxPayloadBytes, retentionMs = 3_600_000, ...topology } = opts;
  const nats = await startTestNats(maxPayloadBytes === undefined ? {} : { maxPayloadBytes });
  let nc: NatsConnection | undefined;
  const dispose = async () => {
    await nc?.close();
    await nats[Symbol.asyncDispose]();
  };
  try {
    nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await ensureTopology(nc, jsm, { ...topology, retentionMs });
    return { nats, nc, js: jetstream(nc), jsm, [Symbol.asyncDispose]: dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** The consumer `name` of `stream`, or undefined when it does not exist (any other failure throws). */
export function consumerInfo(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | undefined> {
  return jsm.consumers.info(stream, name).then(
    (ci) => ci,
    (err: unknown) => {
      if (isNotFound(err)) return undefined;
      throw err;
    },
  );
}
