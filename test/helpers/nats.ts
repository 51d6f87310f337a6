import { join } from 'node:path';
import { startNatsServer, type NatsServerHandle } from '../../host/src/nats/server.js';
import { tempDir } from './tmp.js';

/** A real nats-server with JetStream on a free port and a temp store; stop it with `await using`. */
export async function startTestNats(opts: { maxPayloadBytes?: number } = {}): Promise<NatsServerHandle & { dataDir: string }> {
  const dir = await tempDir('mw-nats-');
  const server = await startNatsServer({ dataDir: join(dir.path, 'nats'), ...opts });
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
