export { WatchedKv } from './watched-kv.js';
export { BatchStore } from './batches.js';
export {
  activeVersionOf,
  appliesTo,
  bundleName,
  describeEndpoints,
  type EndpointMatchee,
  DEFAULT_LIMITS,
  PluginStore,
  type PublishedVersion,
  type QuarantineStep,
} from './plugins.js';
export { EndpointStore, type AdoptedNames, type NewEndpoint } from './endpoints.js';
export { readSettings, SettingsStore, withBasePeriod, type PeriodChangeOptions, type SettingsChange } from './settings.js';
export { ResultsDb, pointsOf, type OutboxPoint } from './results-db.js';
export { InfluxWriter, type InfluxTarget } from './influx.js';
export { accountWindow, FailureStreaks, forgetStreaks, markOf, streakKey, MAX_PENDING, type StreakStep } from './streaks.js';
