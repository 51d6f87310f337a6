export { bundlePlugin, readManifest, BUNDLE_GLOBAL, type PluginBundle } from './bundle.js';
export { resolveManifest, groundTruthDelayMs, manifestSchema, RESERVED_NAMES, type PluginManifest, type ResolvedManifest } from './manifest.js';
