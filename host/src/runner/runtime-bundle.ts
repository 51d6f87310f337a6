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
 * time a process needs it (50 to 100 ms, once; `loadSandboxRuntime()` does it ahead, without
 * blocking), from the compiled `isolate/runtime.js` next to this module in an installed package,
 * or from the TypeScript source when run from the sources (tests).
 * @throws {ModelwatchError} PLUGIN_LOAD_FAILED when it does not bundle (a broken installation): no sandbox can load
 */
export function sandboxRuntimeCode(): string {
  if (bundled === undefined) {
    const options = buildOptions();
    try {
      bundled = esbuild.buildSync(options).outputFiles[0]!.text;
    } catch (err) {
      throw failed(options, err);
    }
  }
  return bundled;
}

/**
 * Bundle the sandbox runtime now, without blocking the event loop: a runner does it when it
 * starts, so its first window does not wait for it, and a broken installation fails the start.
 * @throws {ModelwatchError} PLUGIN_LOAD_FAILED when it does not bundle
 */
export async function loadSandboxRuntime(): Promise<void> {
  if (bundled !== undefined) return;
  const options = buildOptions();
  let result: esbuild.BuildResult<{ write: false }>;
  try {
    result = await esbuild.build(options);
  } catch (err) {
    throw failed(options, err);
  }
  bundled ??= result.outputFiles[0]!.text;
}

function buildOptions() {
  const js = fileURLToPath(new URL('./isolate/runtime.js', import.meta.url));
  const entry = existsSync(js) ? js : js.replace(/\.js$/, '.ts');
  return {
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
  } satisfies esbuild.BuildOptions;
}

function failed(options: ReturnType<typeof buildOptions>, err: unknown): ModelwatchError {
  return new ModelwatchError('PLUGIN_LOAD_FAILED', `the sandbox runtime (${options.entryPoints[0]}) does not bundle: ${(err as Error).message}`, {
    cause: err,
  });
}
