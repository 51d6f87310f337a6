/**
 * What a plugin bundle is, for the bundler that makes it and the sandbox that loads it: an
 * IIFE that assigns its module's exports to this global.
 */
export const BUNDLE_GLOBAL = '__mw_plugin';
