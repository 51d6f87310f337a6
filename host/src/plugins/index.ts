export { bundlePlugin, readManifest, watchPlugin, BUNDLE_GLOBAL, type PluginBundle, type WatchEvent } from './bundle.js';
export { resolveManifest, groundTruthDelayMs, manifestSchema, RESERVED_NAMES, type PluginManifest, type ResolvedManifest } from './manifest.js';
