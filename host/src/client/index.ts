export {
  ModelwatchClient,
  type ClientOptions,
  type DefaultAppOutcome,
  type EndpointSummary,
  type IngestReply,
  type SendEventsOptions,
  type SetMonitoringReply,
} from './client.js';
export type { ProfilesParams, RollupsParams } from '../api/contract.js';
