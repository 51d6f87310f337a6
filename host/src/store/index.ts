export { WatchedKv } from './watched-kv.js';
export { updateJson } from './kv.js';
export { activeVersionOf, bundleName, DEFAULT_LIMITS } from './plugins.js';
export { initSettings, readSettings } from './settings.js';
export { ResultsDb, pointsOf, type OutboxPoint } from './results-db.js';
export { InfluxWriter, type InfluxTarget } from './influx.js';
export { accountWindow, FailureStreaks, forgetStreaks, markOf, streakKey, MAX_PENDING, type StreakStep } from './streaks.js';
