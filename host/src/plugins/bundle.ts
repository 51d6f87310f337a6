import { createHash } from 'node:crypto';
import { builtinModules } from 'node:module';
import { realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
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
 * npm dependencies are bundled too. Importing a Node built-in fails with file and line, and so
 * does importing any file outside the plugin folder (its node_modules included, symlinks
 * followed to where they lead) and the SDK's: see {@link folderConfinement}.
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
    plugins: [sandboxResolver(), folderConfinement(root)],
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

/** The folder of this installation's SDK (`<sdk>/dist/index.js` -> `<sdk>`), the one place outside a plugin folder a bundle may read. */
function sdkFolder(): string {
  return realpathSync(dirname(dirname(fileURLToPath(import.meta.resolve('@modelwatch/sdk')))));
}

/** Whether `path` is `folder` or inside it (both real paths). */
function isInside(path: string, folder: string): boolean {
  return path === folder || path.startsWith(folder.endsWith(sep) ? folder : folder + sep);
}

/** The real path of a file (symlinks followed), or the path itself when it does not exist (esbuild then says so). */
function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/**
 * Confines a build to the plugin folder (its node_modules included) and the SDK: every import
 * is resolved by esbuild as usual, then refused unless its real path (symlinks followed) is
 * inside one of them, whatever its loader (code, JSON, `text`, `file`, `with { type }`); every
 * file loaded is checked again (the entry, glob imports). Reading `/etc/passwd` or
 * `../../secret.json` into a bundle, which then runs and reports on the host, is refused with
 * the import and the file that imports it.
 */
export function folderConfinement(root: string): esbuild.Plugin {
  const allowed = [realPath(root), sdkFolder()];
  const outside = (path: string) => !allowed.some((folder) => isInside(realPath(path), folder));
  const refusal = (what: string, importer: string, resolved: string) =>
    `${importer ? `import '${what}' in ${relative(root, importer)}` : `the entry ${relative(root, what)}`} (${resolved}) is outside the plugin folder: a plugin may import only files in its folder, its node_modules and @modelwatch/sdk`;
  return {
    name: 'modelwatch-folder',
    setup(build) {
      build.onResolve({ filter: /.*/ }, async (args) => {
        if ((args.pluginData as { confined?: boolean } | undefined)?.confined) return undefined;
        const r = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          namespace: args.namespace,
          with: args.with,
          pluginData: { confined: true },
        });
        if (r.errors.length) return { errors: r.errors, warnings: r.warnings };
        if (r.namespace === 'file' && r.path && outside(r.path)) return { errors: [{ text: refusal(args.path, args.importer, realPath(r.path)) }] };
        const { path, external, sideEffects, namespace, suffix, pluginData, warnings } = r;
        return { path, external, sideEffects, namespace, suffix, pluginData, warnings };
      });
      build.onLoad({ filter: /.*/ }, (args) => {
        if (args.namespace !== 'file' || !outside(args.path)) return undefined;
        return {
          errors: [
            {
              text: `${relative(root, args.path)} leads outside the plugin folder (to ${realPath(args.path)}): a plugin may import only files in its folder, its node_modules and @modelwatch/sdk`,
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
