import { createHash } from 'node:crypto';
import { builtinModules } from 'node:module';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { ModelwatchError } from '../errors.js';
import { BUNDLE_GLOBAL } from './bundle-format.js';
import { resolveManifest, type ResolvedManifest } from './manifest.js';

/** A plugin ready to publish: its manifest and one script for the sandbox. */
export interface PluginBundle {
  manifest: ResolvedManifest;
  /** IIFE assigning the entry module's exports to `__mw_plugin`. */
  code: string;
  /** External source map of `code`. */
  map: string;
  /** sha256 of `code`, hex. */
  digest: string;
  /** Source files that went into the bundle (absolute paths). */
  inputs: string[];
}

/** The global the bundle assigns its exports to. */
export { BUNDLE_GLOBAL } from './bundle-format.js';

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Read and validate `<dir>/plugin.json`. */
export async function readManifest(dir: string): Promise<ResolvedManifest> {
  const path = join(dir, 'plugin.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ModelwatchError('PLUGIN_INVALID_MANIFEST', `${path} not found: a plugin folder needs a plugin.json`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelwatchError('PLUGIN_INVALID_MANIFEST', `${path} is not valid JSON: ${(err as Error).message}`);
  }
  return resolveManifest(raw, path);
}

/**
 * Bundle a plugin folder with esbuild into one script for the sandbox. `@modelwatch/sdk`
 * resolves to this installation's SDK, so a plugin folder needs no node_modules; its own
 * npm dependencies are bundled too. Importing a Node built-in fails with file and line.
 * @throws {ModelwatchError} PLUGIN_INVALID_MANIFEST or PLUGIN_BUILD_FAILED
 */
export async function bundlePlugin(dir: string): Promise<PluginBundle> {
  const root = resolve(dir);
  const manifest = await readManifest(root);
  const entry = resolve(root, manifest.entry);
  if (relative(root, entry).startsWith('..') || isAbsolute(relative(root, entry))) {
    throw new ModelwatchError('PLUGIN_INVALID_MANIFEST', `entry '${manifest.entry}' is outside the plugin folder`);
  }
  let result: esbuild.BuildResult<{ write: false; metafile: true }>;
  try {
    result = await esbuild.build(buildOptions(root, entry));
  } catch (err) {
    throw new ModelwatchError('PLUGIN_BUILD_FAILED', `${manifest.name}@${manifest.version} does not build:\n${formatMessages(err, root)}`, {
      cause: err,
    });
  }
  return bundleOf(manifest, result, root);
}

/** esbuild's options for a plugin: one IIFE script for the sandbox with an external source map. */
function buildOptions(root: string, entry: string) {
  return {
    entryPoints: [entry],
    absWorkingDir: root,
    bundle: true,
    write: false,
    metafile: true,
    format: 'iife',
    globalName: BUNDLE_GLOBAL,
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2023',
    outfile: join(root, 'plugin.js'),
    sourcemap: 'external',
    sourcesContent: true,
    logLevel: 'silent',
    plugins: [sandboxResolver()],
  } satisfies esbuild.BuildOptions;
}

function bundleOf(manifest: ResolvedManifest, result: esbuild.BuildResult<{ write: false; metafile: true }>, root: string): PluginBundle {
  const code = result.outputFiles.find((f) => f.path.endsWith('.js'))!.text;
  const map = result.outputFiles.find((f) => f.path.endsWith('.map'))?.text ?? '';
  return {
    manifest,
    code,
    map,
    digest: createHash('sha256').update(code).digest('hex'),
    inputs: Object.keys(result.metafile.inputs).map((p) => resolve(root, p)),
  };
}

/** A rebuild of a watched plugin: its bundle, or why it failed. */
export type WatchEvent = { ok: true; bundle: PluginBundle } | { ok: false; error: ModelwatchError };

/**
 * Rebuild a plugin folder on every change of its sources or plugin.json (esbuild's watch
 * mode), calling `onBuild` after each build. Stop it with the returned function.
 */
export async function watchPlugin(dir: string, onBuild: (e: WatchEvent) => void | Promise<void>): Promise<() => Promise<void>> {
  const root = resolve(dir);
  let manifest = await readManifest(root);
  const entry = resolve(root, manifest.entry);
  const report: esbuild.Plugin = {
    name: 'modelwatch-watch',
    setup(build) {
      build.onEnd(async (result) => {
        if (result.errors.length) {
          await onBuild({
            ok: false,
            error: new ModelwatchError('PLUGIN_BUILD_FAILED', `${manifest.name} does not build:\n${formatMessages({ errors: result.errors }, root)}`),
          });
          return;
        }
        await onBuild({ ok: true, bundle: bundleOf(manifest, result as esbuild.BuildResult<{ write: false; metafile: true }>, root) });
      });
    },
  };
  const base = buildOptions(root, entry);
  const ctx = await esbuild.context({ ...base, plugins: [...base.plugins, report] });
  await ctx.watch();
  const { watch } = await import('node:fs');
  const manifestWatcher = watch(join(root, 'plugin.json'), () => {
    void readManifest(root).then(
      (m) => {
        manifest = m;
        return ctx.rebuild().catch(() => undefined);
      },
      (error: ModelwatchError) => onBuild({ ok: false, error }),
    );
  });
  return async () => {
    manifestWatcher.close();
    await ctx.dispose();
  };
}

function sandboxResolver(): esbuild.Plugin {
  return {
    name: 'modelwatch-sandbox',
    setup(build) {
      build.onResolve({ filter: /^@modelwatch\/sdk(\/.*)?$/ }, (args) => ({
        path: fileURLToPath(import.meta.resolve(args.path)),
      }));
      build.onResolve({ filter: /^[a-z0-9_:/]+$/ }, (args) => {
        if (!builtins.has(args.path)) return undefined;
        return {
          errors: [
            {
              text: `'${args.path}' is a Node.js built-in module: plugins run in a sandbox without Node APIs (no file system, network or process)`,
            },
          ],
        };
      });
    },
  };
}

function formatMessages(err: unknown, root: string): string {
  const errors = (err as { errors?: esbuild.Message[] }).errors;
  if (!errors?.length) return `  ${(err as Error).message}`;
  return errors
    .map((m) => {
      const loc = m.location ? `${relative(root, resolve(root, m.location.file))}:${m.location.line}:${m.location.column + 1}: ` : '';
      return `  ${loc}${m.text}`;
    })
    .join('\n');
}
