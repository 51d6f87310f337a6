/**
 * The SDK's internal entry (`sdk/src/internal.ts`: output validation, the base class's mark),
 * which `@modelwatch/sdk` does not export: apps never see it. Reached by its path in the
 * workspace, the one import of the host into another package's files.
 */
export * from '../../sdk/dist/internal.js';
