export {
  CHANNEL_SCHEMA,
  CHANNEL_TYPES,
  validateChannel,
  redactChannel,
  resolveEnv,
  routeMatches,
  type ChannelSpec,
  type ChannelInfo,
  type ChannelType,
  type ChannelRoute,
  type ChannelTemplate,
} from './channels.js';
export { WEBHOOK_BODY_SCHEMA, DEFAULT_TEMPLATE, templateView } from './messages.js';
export { NotifyHeaders, signBody, type AttemptResult } from './send.js';
export {
  createNotifier,
  sampleNotification,
  backoffMs,
  type AlertNotifier,
  type ChannelTestResult,
  type DeliveryAttempt,
  type HistoryQuery,
  type NotifierDeps,
  type NotifierOptions,
} from './notifier.js';
