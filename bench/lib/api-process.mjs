// A host of the API role alone, in a process of its own (as a deployment at scale runs it: `host
// start --roles api`), for the ingest benches; forked by `startBenchHost` with `apiApart`. It
// answers the parent's messages: 'cpu' with its main thread's CPU time in ms (the API's event
// loop), 'profile-start' / 'profile-stop' with a CPU profile of that thread, 'stop'.
import { Session } from 'node:inspector/promises';
import { createHost } from '../../host/dist/host.js';
import { createLogger } from '../../host/dist/logger.js';

// httpPort and reusePort: several API processes on one port (`host start --reuse-port`)
const { natsUrl, dataDir, adminToken, httpPort = 0, reusePort = false, nodeId } = JSON.parse(process.argv[2]);
const host = createHost(
  { adminToken, natsUrl, dataDir, httpPort, reusePort, ...(nodeId && { nodeId }), runners: 0, components: ['api'], logLevel: 'error' },
  createLogger('error'),
);
await host.start();
const session = new Session();
session.connect();
process.on('message', async (m) => {
  if (m === 'cpu') {
    const c = process.threadCpuUsage();
    process.send({ cpuMs: (c.user + c.system) / 1000 });
  } else if (m === 'profile-start') {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    process.send({ profiling: true });
  } else if (m === 'profile-stop') {
    process.send({ profile: (await session.post('Profiler.stop')).profile });
  } else if (m === 'stop') {
    session.disconnect();
    await host.stop();
    process.exit(0);
  }
});
// the parent gone without a 'stop' (killed): this process would stay on its port, alone
process.on('disconnect', () => process.exit(1));
process.send({ apiUrl: host.apiUrl });
