export { createApiServer, type ApiDeps, type PublishPluginBody } from './server.js';
export { parseReference, referenceStatsFor, tableOf, type ReferenceFormat, type ReferenceTable } from './reference.js';
