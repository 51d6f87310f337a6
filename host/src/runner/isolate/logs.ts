/*
 * Runs INSIDE the sandbox, part of the runtime's bundle: a window's log lines cut to their budget
 * there, so at most MAX_LOG_LINES_PER_WINDOW lines of at most MAX_LOG_LINE_CHARS characters each
 * (and MAX_LOG_CHARS_PER_WINDOW in all) cross to the host, whatever the plugin logs.
 */
import type { LogLevel } from './contract.js';
import { MAX_LOG_CHARS_PER_WINDOW, MAX_LOG_LINE_CHARS, MAX_LOG_LINES_PER_WINDOW } from './contract.js';

/** Where the cut lines go: the host's `log` operation, for one window. */
export type LogSink = (level: LogLevel, message: string, fields: string) => void;

/** The marker at the end of a cut part: how much was cut. */
export function cutMarker(cut: number): string {
  return `…[${cut} characters cut]`;
}

/** `text` cut to `max` characters, with the marker saying how many were cut. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  // room for the longest marker: the count cut has no more digits than the length
  const kept = Math.max(0, max - cutMarker(text.length).length);
  return text.slice(0, kept) + cutMarker(text.length - kept);
}

/**
 * The log of one window: `write` cuts each line's message and fields to MAX_LOG_LINE_CHARS,
 * stops once the window's line or character budget is used, and `end` sends one last line saying
 * how many lines and characters were dropped (if any were).
 */
export function windowLog(sink: LogSink): { write(level: LogLevel, message: unknown, fields: string): void; end(): void } {
  let lines = 0;
  let chars = 0;
  let droppedLines = 0;
  let droppedChars = 0;
  return {
    write(level, message, fields) {
      const text = typeof message === 'string' ? message : String(message);
      if (lines >= MAX_LOG_LINES_PER_WINDOW || chars >= MAX_LOG_CHARS_PER_WINDOW) {
        droppedLines++;
        droppedChars += text.length + fields.length;
        return;
      }
      const room = MAX_LOG_CHARS_PER_WINDOW - chars;
      const m = cutText(text, Math.min(MAX_LOG_LINE_CHARS, room));
      const f = cutText(fields, Math.min(MAX_LOG_LINE_CHARS, Math.max(0, room - m.length)));
      lines++;
      chars += m.length + f.length;
      sink(level, m, f);
    },
    end() {
      if (droppedLines === 0) return;
      sink(
        'warn',
        `${droppedLines} more log line(s) of this window dropped (${droppedChars} characters): a window logs at most ${MAX_LOG_LINES_PER_WINDOW} lines and ${MAX_LOG_CHARS_PER_WINDOW} characters`,
        '',
      );
      droppedLines = 0;
      droppedChars = 0;
    },
  };
}
