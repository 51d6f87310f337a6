/**
 * Entry of an app-runner process. The host forks it (with --no-node-snapshot) and restarts
 * it when it dies; it can also run on another machine:
 *   MODELWATCH_NATS_URL=nats://host:4222 node --no-node-snapshot runner-main.js
 * with MODELWATCH_NATS_CREDS (a .creds file or nkey seed) and MODELWATCH_NATS_TLS_CA / _CERT / _KEY
 * when the server asks for them.
 */
import { connect } from '@nats-io/transport-node';
import { createLogger } from '../logger.js';
import { natsConnectOptions } from '../nats/auth.js';
import { settledWithin } from '../clock.js';
import { AppRunner } from './runner.js';

const STOP_RUNNER_MS = 2500;
const STOP_DRAIN_MS = 1500;

const natsUrl = process.env.MODELWATCH_NATS_URL ?? 'nats://127.0.0.1:4222';
const logger = createLogger(process.env.MODELWATCH_LOG_LEVEL ?? 'info');
// A stray rejection (an isolate disposed under a pending call) is a bug to log, not a reason to
// take down every window this runner is working on.
process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection in the runner'));
// credentials and TLS: the runner role's of the host's own nats-server, or the external cluster's
const security = {
  ...(process.env.MODELWATCH_NATS_CREDS ? { credsFile: process.env.MODELWATCH_NATS_CREDS } : {}),
  ...(process.env.MODELWATCH_NATS_TLS_CA ? { tlsCaFile: process.env.MODELWATCH_NATS_TLS_CA } : {}),
  ...(process.env.MODELWATCH_NATS_TLS_CERT ? { tlsCertFile: process.env.MODELWATCH_NATS_TLS_CERT } : {}),
  ...(process.env.MODELWATCH_NATS_TLS_KEY ? { tlsKeyFile: process.env.MODELWATCH_NATS_TLS_KEY } : {}),
};
const nc = await connect({
  servers: natsUrl.split(','),
  name: 'modelwatch-runner',
  maxReconnectAttempts: -1,
  // no stack captured per request, as the host's connection (a TimeoutError and a RequestError
  // made for every publish and request: 8% of a runner's CPU at 10,000 endpoints)
  noAsyncTraces: true,
  ...(await natsConnectOptions(security, 'runner')),
}).catch((err: unknown) => {
  // one line, not a stack: the supervisor restarts this runner (with backoff) until NATS is there
  logger.error({ nats: natsUrl, err: (err as Error).message }, 'the runner cannot connect to NATS');
  process.exit(1);
});
const runner = new AppRunner({
  nc,
  logger,
  concurrency: Number(process.env.MODELWATCH_RUNNER_CONCURRENCY ?? 2),
  windowAttempts: Number(process.env.MODELWATCH_WINDOW_ATTEMPTS ?? 3),
  ...(process.env.MODELWATCH_RUNNER_APP_CONCURRENCY ? { appConcurrency: Number(process.env.MODELWATCH_RUNNER_APP_CONCURRENCY) } : {}),
  ...(process.env.MODELWATCH_RUNNER_MEMORY_MB ? { memoryMb: Number(process.env.MODELWATCH_RUNNER_MEMORY_MB) } : {}),
  ...(process.env.MODELWATCH_RUNNER_NAME ? { name: process.env.MODELWATCH_RUNNER_NAME } : {}),
});
await runner.start();
process.send?.({ type: 'ready', ping: runner.pingSubject });

let stopping = false;
// each step bounded (the windows in flight wait on NATS acknowledgements, the drain on the server:
// while NATS is away both would wait for it), within the supervisor's grace before SIGKILL
const stop = async () => {
  if (stopping) return;
  stopping = true;
  const stopped = await settledWithin(
    runner.stop().catch((err: unknown) => {
      // a failed stop still ends in the exit below, not in the supervisor's SIGKILL
      logger.warn({ err }, 'stop: the runner failed to stop cleanly; exiting');
    }),
    STOP_RUNNER_MS,
  );
  if (!stopped) logger.warn(`stop: the runner did not stop within ${STOP_RUNNER_MS} ms; exiting`);
  else if (!(await settledWithin(nc.drain(), STOP_DRAIN_MS))) logger.warn(`stop: the NATS connection did not drain within ${STOP_DRAIN_MS} ms; exiting`);
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.on('disconnect', () => void stop());
