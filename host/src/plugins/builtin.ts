import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelwatchError } from '../errors.js';
import { packageAsset } from './assets.js';
import { bundlePlugin, readManifest, type PluginBundle } from './bundle.js';

/** How `plugin publish` names a built-in app instead of a folder: `builtin:drift`. */
export const BUILTIN_PREFIX = 'builtin:';

/** A built-in app, as its plugin.json describes it. */
export interface BuiltinApp {
  name: string;
  version: string;
  description: string;
  /** Its source folder. */
  dir: string;
}

/**
 * The folder of the built-in apps: `builtin/` in an installed package (the apps' plugin.json,
 * sources and README, copied in at `npm pack`), the repository's `plugins/` next to `host/` in a
 * checkout; found from this module's own location, never from the working directory.
 */
export const BUILTIN_DIR = packageAsset('builtin/', 'plugins/');

/** The built-in apps: each folder of {@link BUILTIN_DIR} with a plugin.json, by name. */
export async function listBuiltins(): Promise<BuiltinApp[]> {
  let entries: string[];
  try {
    entries = (await readdir(BUILTIN_DIR, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (err) {
    throw new ModelwatchError('UNKNOWN_BUILTIN', `the built-in apps are missing: cannot read ${BUILTIN_DIR} (${(err as Error).message})`);
  }
  const apps: BuiltinApp[] = [];
  for (const folder of entries) {
    const dir = join(BUILTIN_DIR, folder);
    const manifest = await readManifest(dir).catch((err: unknown) => {
      if (err instanceof ModelwatchError && /not found/.test(err.message)) return undefined; // a helper folder (test-utils)
      throw err;
    });
    if (manifest) apps.push({ name: manifest.name, version: manifest.version, description: manifest.description, dir });
  }
  return apps.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The built-in app of this name.
 * @throws {ModelwatchError} UNKNOWN_BUILTIN, naming the built-in apps there are
 */
export async function builtinApp(name: string): Promise<BuiltinApp> {
  const apps = await listBuiltins();
  const app = apps.find((a) => a.name === name);
  if (!app) throw new ModelwatchError('UNKNOWN_BUILTIN', `no built-in app named '${name}': the built-in apps are ${apps.map((a) => a.name).join(', ')}`);
  return app;
}

/**
 * Bundle the built-in app of this name, as `plugin publish` bundles a folder.
 * @throws {ModelwatchError} UNKNOWN_BUILTIN, or what {@link bundlePlugin} throws
 */
export async function bundleBuiltin(name: string): Promise<PluginBundle> {
  return bundlePlugin((await builtinApp(name)).dir);
}
