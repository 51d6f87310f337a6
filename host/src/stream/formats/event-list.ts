/** A JSON list of events, of any event format: one event per element. */
import type { MessageFormat } from './common.js';

export const eventList: MessageFormat = {
  name: 'list',
  detect: (body) => Array.isArray(body),
  unpack: (body) => (body as unknown[]).map((event, index) => ({ event, index })),
};
