export { ModelwatchClient, type ClientOptions, type DefaultAppOutcome, type EndpointSummary, type IngestReply, type SetMonitoringReply } from './client.js';
