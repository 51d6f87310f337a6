import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compiledWorker } from '../src/worker-pool.js';

describe('compiledWorker', () => {
  it('names the compiled worker beside a module of dist/, and of src/ (a worker thread runs the compiled one)', () => {
    const url = (p: string) => pathToFileURL(p).href;
    expect(compiledWorker(url('/repo/host/dist/api/body-workers.js'), 'body-worker')).toBe('/repo/host/dist/api/body-worker.js');
    expect(compiledWorker(url('/repo/host/src/api/body-workers.ts'), 'body-worker')).toBe('/repo/host/dist/api/body-worker.js');
    // the last src/ of the path is the package's, whatever the folders above it are called
    expect(compiledWorker(url('/src/work/host/src/stream/filing-workers.ts'), 'filing-worker')).toBe('/src/work/host/dist/stream/filing-worker.js');
  });
});
