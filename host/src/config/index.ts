export { parseDuration, formatDuration } from './duration.js';
export {
  resolveHostOptions,
  DEFAULT_HTTP_PORT,
  MIN_BASE_PERIOD_MS,
  MAX_BASE_PERIOD_MS,
  type ComponentName,
  type HostOptions,
  type InfluxOptions,
  type NatsSecurity,
  type ResolvedHostOptions,
} from './options.js';
export { parseHostPort, parseRateLimit, resolveWebOptions, DEFAULT_RATE_LIMIT, type HostPattern, type ResolvedWebOptions } from './web.js';
