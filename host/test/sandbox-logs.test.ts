import { describe, expect, it } from 'vitest';
import { MAX_LOG_CHARS_PER_WINDOW, MAX_LOG_LINE_CHARS, MAX_LOG_LINES_PER_WINDOW } from '../src/runner/isolate/contract.js';
import { cutText, windowLog } from '../src/runner/isolate/logs.js';

/** The log budget of a window, as the sandbox runtime applies it before anything crosses to the host. */
describe("a window's log, cut inside the isolate", () => {
  const collect = () => {
    const lines: Array<{ level: string; message: string; fields: string }> = [];
    return { lines, log: windowLog((level, message, fields) => lines.push({ level, message, fields })) };
  };

  it('cuts a long line to MAX_LOG_LINE_CHARS with a marker saying how much was cut', () => {
    const { lines, log } = collect();
    log.write('info', 'x'.repeat(64 * 1024 * 1024), '{"big":"' + 'y'.repeat(10_000) + '"}');
    log.end();
    expect(lines).toHaveLength(1);
    expect(lines[0]!.message.length).toBeLessThanOrEqual(MAX_LOG_LINE_CHARS);
    // the marker counts exactly what was cut
    const kept = 64 * 1024 * 1024 - Number(/…\[(\d+) characters cut\]$/.exec(lines[0]!.message)![1]);
    expect(lines[0]!.message.replace(/…\[\d+ characters cut\]$/, '')).toBe('x'.repeat(kept));
    expect(lines[0]!.fields.length).toBeLessThanOrEqual(MAX_LOG_LINE_CHARS);
    expect(lines[0]!.fields).toMatch(/…\[\d+ characters cut\]$/);
  });

  it('keeps a short line as it is', () => {
    expect(cutText('short', 10)).toBe('short');
    const { lines, log } = collect();
    log.write('warn', 'hello', '');
    log.end();
    expect(lines).toEqual([{ level: 'warn', message: 'hello', fields: '' }]);
  });

  it(`stops at ${MAX_LOG_LINES_PER_WINDOW} lines, then says how many lines and characters were dropped`, () => {
    const { lines, log } = collect();
    for (let i = 0; i < 1000; i++) log.write('info', `line ${i}`, '');
    log.end();
    expect(lines).toHaveLength(MAX_LOG_LINES_PER_WINDOW + 1);
    expect(lines.at(-1)!.message).toMatch(/^900 more log line\(s\) of this window dropped \(\d+ characters\)/);
  });

  it(`stops at ${MAX_LOG_CHARS_PER_WINDOW} characters a window, whatever the lines`, () => {
    const { lines, log } = collect();
    for (let i = 0; i < 24; i++) log.write('info', 'z'.repeat(1 << 20), '');
    log.end();
    const total = lines.slice(0, -1).reduce((n, l) => n + l.message.length + l.fields.length, 0);
    expect(total).toBeLessThanOrEqual(MAX_LOG_CHARS_PER_WINDOW);
    expect(lines.at(-1)!.message).toMatch(/more log line\(s\) of this window dropped \((\d+) characters\)/);
  });
});
