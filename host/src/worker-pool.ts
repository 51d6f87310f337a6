/**
 * The host's worker-thread pools (piscina): the API's for big bodies (`api/body-workers.ts`) and
 * the stream processor's for big batches (`stream/filing-workers.ts`), made alike.
 */
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';

/**
 * The compiled module `worker` (a file name without extension) in the folder of the module at
 * `moduleUrl`: the host runs from `dist/`, and tests that import `src/` run the worker from
 * `dist/` too (a worker thread cannot load TypeScript).
 */
export function compiledWorker(moduleUrl: string, worker: string): string {
  const here = fileURLToPath(moduleUrl).replace(/^(.*)[/\\]src[/\\](.*)\.ts$/, '$1/dist/$2.js');
  return here.replace(/[^/\\]+\.js$/, `${worker}.js`);
}

/**
 * A pool of threads running `worker` (see {@link compiledWorker}), started when needed and ended
 * when idle: at most one thread fewer than the cores (one on two), four at the most, as the host
 * has other work for the cores (the runners, the stream processor, the API).
 */
export function workerPool(moduleUrl: string, worker: string): Piscina {
  return new Piscina({
    filename: compiledWorker(moduleUrl, worker),
    minThreads: 0,
    maxThreads: Math.max(1, Math.min(4, availableParallelism() - 1)),
    idleTimeout: 30_000,
  });
}
