import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** The host's root logger: JSON lines on stderr. Components take a child with `{ component }`. */
export function createLogger(level = 'info', destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: { pid: process.pid } }, destination ?? pino.destination(2));
}
