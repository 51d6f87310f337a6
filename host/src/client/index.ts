export { ModelwatchClient, type ClientOptions, type EndpointSummary, type IngestReply } from './client.js';
