export { createApiServer, type ApiDeps } from './server.js';
export { registerPluginRoutes, type PublishPluginBody, type PluginLogLine, type EvaluatedWindow } from './plugins.js';
export { parseReference, referenceStatsFor, tableOf, type ReferenceFormat, type ReferenceTable } from './reference.js';
