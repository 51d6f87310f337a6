import { join } from 'node:path';
import { ModelwatchClient } from '../../host/src/client/client.js';
import type { HostOptions } from '../../host/src/config/options.js';
import { createHost, type Host } from '../../host/src/host.js';
import { createLogger } from '../../host/src/logger.js';
import { bundlePlugin } from '../../host/src/plugins/bundle.js';
import { tempDir } from './tmp.js';

export const REPO = new URL('../..', import.meta.url).pathname;
export const HISTOGRAM_PLUGIN = join(REPO, 'plugins/histogram-data-drift');

/** A host on a test nats-server with a temp data dir and a free HTTP port; logs only warnings. */
export async function startTestHost(
  options: HostOptions & { natsUrl: string },
): Promise<{ host: Host; client: ModelwatchClient; dataDir: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = options.dataDir ? undefined : await tempDir('mw-host-');
  const host = createHost(
    { httpPort: 0, runners: 1, logLevel: 'warn', ...options, dataDir: options.dataDir ?? dir!.path },
    createLogger(process.env.MW_TEST_LOG ?? 'warn'),
  );
  await host.start();
  return {
    host,
    client: new ModelwatchClient({ url: host.apiUrl }),
    dataDir: host.options.dataDir,
    [Symbol.asyncDispose]: async () => {
      await host.stop();
      await dir?.[Symbol.asyncDispose]();
    },
  };
}

/** Bundle a plugin folder and publish it (`strict`: refused when its dry run fails). */
export async function publishDir(client: ModelwatchClient, dir: string, opts: { strict?: boolean } = {}) {
  const b = await bundlePlugin(dir);
  return await client.publishPlugin({ manifest: b.manifest, code: b.code, map: b.map, ...opts });
}

/** Deterministic pseudo-random numbers (the SDK's seededRandom). */
export { seededRandom as rng } from '@modelwatch/sdk/testing';
