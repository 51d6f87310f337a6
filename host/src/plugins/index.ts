export { bundlePlugin, readManifest, watchPlugin, BUNDLE_GLOBAL, type PluginBundle, type WatchEvent } from './bundle.js';
export { resolveManifest, groundTruthDelayMs, manifestSchema, RESERVED_NAMES, type PluginManifest, type ResolvedManifest } from './manifest.js';
export { BUILTIN_DIR, BUILTIN_PREFIX, builtinApp, bundleBuiltin, listBuiltins, type BuiltinApp } from './builtin.js';
