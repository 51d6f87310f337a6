export { WatchedKv } from './watched-kv.js';
export { checkEndpointName, checkNames, endpointId, updateJson, ENDPOINT_NAME, type EndpointRecord } from './endpoints.js';
export { activeVersionOf, bundleName, DEFAULT_LIMITS, type PluginLimits, type PluginRecord, type PluginVersionRecord } from './plugins.js';
export { initSettings, readSettings, SETTINGS_KEY, type MonitoringSettings } from './settings.js';
export { ResultsDb, pointsOf, type LatestResult, type OutboxPoint, type ResultsQuery, type WindowRecord } from './results-db.js';
export { InfluxWriter, type InfluxTarget } from './influx.js';
export {
  accountWindow,
  FailureStreaks,
  forgetStreaks,
  markOf,
  streakKey,
  MAX_PENDING,
  type StreakRecord,
  type StreakStep,
  type WindowMark,
} from './streaks.js';
