import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { ModelwatchError } from '../errors.js';

/** The name the runtime's module has in the isolate (in stack frames, which the host drops). */
export const RUNTIME_FILENAME = 'file:///modelwatch/runtime.js';

let bundled: string | undefined;

/**
 * The sandbox runtime (`isolate/runtime.ts` and what it imports: the SDK's context builder) as one
 * ES module for isolated-vm's `compileModule`, with no imports left. Bundled with esbuild the first
 * time a process needs it (about 20 ms, once), from the compiled `isolate/runtime.js` next to this
 * module in an installed package, or from the TypeScript source when run from the sources (tests).
 * @throws {ModelwatchError} PLUGIN_LOAD_FAILED when it does not bundle (a broken installation): no sandbox can load
 */
export function sandboxRuntimeCode(): string {
  return (bundled ??= bundleRuntime());
}

function bundleRuntime(): string {
  const js = fileURLToPath(new URL('./isolate/runtime.js', import.meta.url));
  const entry = existsSync(js) ? js : js.replace(/\.js$/, '.ts');
  let result: esbuild.BuildResult<{ write: false }>;
  try {
    result = esbuild.buildSync({
      entryPoints: [entry],
      absWorkingDir: dirname(entry),
      bundle: true,
      write: false,
      // an ES module: strict code, and no global to hand the operations back through
      format: 'esm',
      platform: 'neutral',
      mainFields: ['module', 'main'],
      target: 'es2023',
      // the SDK declares itself free of side effects: only what the runtime uses is bundled
      treeShaking: true,
      legalComments: 'none',
      // a Node built-in does not resolve on the neutral platform: the error names it, file and line
      // (and lint's layer rules forbid it in isolate/)
      logLevel: 'silent',
    });
  } catch (err) {
    throw new ModelwatchError('PLUGIN_LOAD_FAILED', `the sandbox runtime (${entry}) does not bundle: ${(err as Error).message}`, { cause: err });
  }
  return result.outputFiles[0]!.text;
}
