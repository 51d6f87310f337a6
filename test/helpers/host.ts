import { join } from 'node:path';
import { ModelwatchClient } from '../../host/src/client/client.js';
import type { HostOptions } from '../../host/src/config/options.js';
import { createHost, type Host } from '../../host/src/host.js';
import { createLogger } from '../../host/src/logger.js';
import { generateToken } from '../../host/src/domain/tokens.js';
import { bundlePlugin } from '../../host/src/plugins/bundle.js';
import { tempDir } from './tmp.js';

export const REPO = new URL('../..', import.meta.url).pathname;
export const HISTOGRAM_PLUGIN = join(REPO, 'plugins/histogram-data-drift');

/**
 * The admin token of this test process's hosts: one random token per process, in
 * `MODELWATCH_TOKEN` so the CLI processes a test spawns send it, handed to every test host as
 * its `adminToken` (`hostProcess` gives it as `MODELWATCH_ADMIN_TOKEN`).
 */
export const TEST_TOKEN: string = (process.env.MODELWATCH_TOKEN ||= generateToken());

/** Headers with the test token, for a test's own `fetch`. */
export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, authorization: `Bearer ${TEST_TOKEN}` };
}

/** A host on a test nats-server with a temp data dir and a free HTTP port; logs only warnings. */
export async function startTestHost(
  options: HostOptions & { natsUrl: string },
): Promise<{ host: Host; client: ModelwatchClient; dataDir: string; [Symbol.asyncDispose](): Promise<void> }> {
  const dir = options.dataDir ? undefined : await tempDir('mw-host-');
  let host: Host;
  try {
    host = createHost(
      { httpPort: 0, runners: 1, logLevel: 'warn', adminToken: TEST_TOKEN, ...options, dataDir: options.dataDir ?? dir!.path },
      createLogger(process.env.MW_TEST_LOG ?? 'warn'),
    );
    await host.start();
  } catch (err) {
    // a host that could not start has undone its start itself: its temp folder is what is left
    await dir?.[Symbol.asyncDispose]();
    throw err;
  }
  return {
    host,
    client: new ModelwatchClient({ url: host.apiUrl, token: TEST_TOKEN }),
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
