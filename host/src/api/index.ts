export { createApiServer, type ApiDeps } from './server.js';
export { registerPluginRoutes } from './plugins.js';
export type * from './contract.js';
