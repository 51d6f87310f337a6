/**
 * `batch send --wait`: a batch's analysis as a CI gate. Waits for every window of the batch to be
 * stored by every app it was dispatched to, sums the outcome up per app and result, decides the
 * exit code and writes the JUnit XML report CI systems display. No I/O but the client's reads.
 */
import { resultStatusName, ResultStatus } from '@modelwatch/sdk';
import type { WindowRecord } from '@modelwatch/protocol';
import type { BatchDetail } from '../api/contract.js';
import type { ModelwatchClient } from '../client/client.js';
import { isModelwatchError } from '../errors.js';

/** Exit codes of `batch send`: documented in the README's CLI section. */
export const GateExit = { pass: 0, failed: 1, incomplete: 2, usage: 3 } as const;

/** The `--fail-on` statuses and the result status each stands for. */
export const FAIL_ON = { potential: ResultStatus.PotentialDetection, detected: ResultStatus.Detected } as const;
export type FailOn = keyof typeof FAIL_ON;

/** One result of one app over the batch's windows. */
export interface GateResult {
  app: string;
  result: string;
  windows: number;
  /** The highest status over the windows, and where it was first reached. */
  worstStatus: number;
  worstValue: number;
  worstWindowStart: number;
  /** Windows whose status reached `--fail-on`. */
  failing: number;
}

/** What one app made of the batch. */
export interface GateApp {
  app: string;
  analysed: number;
  ok: number;
  empty: number;
  failed: number;
  /** The first failure's code and message. */
  firstError?: string;
  results: GateResult[];
}

export interface GateSummary {
  endpoint: string;
  batchId: string;
  status: BatchDetail['status'] | 'unknown';
  /** Windows × apps the batch was dispatched as, or null before it was. */
  expected: number | null;
  analysed: number;
  complete: boolean;
  /** Why the analysis is incomplete (when it is). */
  incomplete?: string;
  failOn: FailOn | null;
  apps: GateApp[];
  verdict: 'pass' | 'fail' | 'incomplete';
  exitCode: number;
}

export interface WaitOptions {
  timeoutMs: number;
  /** How often to ask the host. */
  everyMs?: number;
  /** Called with windows analysed of the total, once the total is known. */
  onProgress?: (analysed: number, total: number) => void;
}

export interface WaitOutcome {
  batch: BatchDetail | undefined;
  windows: WindowRecord[];
  /** Why waiting stopped before the batch was analysed (undefined: it was). */
  incomplete?: string;
}

/** The stored windows of the batch from the apps it was dispatched to, one per (app, window). */
function analysedWindows(batch: BatchDetail, windows: WindowRecord[]): WindowRecord[] {
  const apps = new Set(batch.apps ?? []);
  const seen = new Map<string, WindowRecord>();
  for (const w of windows) if (apps.has(w.app)) seen.set(`${w.app}\0${w.windowStart}`, w);
  return [...seen.values()];
}

/** Wait until every window of the batch is analysed by every app it was dispatched to, or the timeout. */
export async function waitForBatch(client: ModelwatchClient, endpoint: string, batchId: string, opts: WaitOptions): Promise<WaitOutcome> {
  const deadline = Date.now() + opts.timeoutMs;
  const every = opts.everyMs ?? 250;
  let batch: BatchDetail | undefined;
  let windows: WindowRecord[] = [];
  for (;;) {
    try {
      batch = await client.getBatch(endpoint, batchId);
    } catch (err) {
      // the record appears once the batch's end marker is processed
      if (!isModelwatchError(err) || err.code !== 'NOT_FOUND') throw err;
    }
    if (batch?.status === 'dispatched') {
      const apps = batch.apps ?? [];
      const total = (batch.windows ?? 0) * apps.length;
      if (apps.length === 0) return { batch, windows, incomplete: 'no app was active for the endpoint when the batch was dispatched' };
      // (a batch of no window has nothing to wait for; a limit of 0 is not one the host takes)
      windows = total > 0 ? analysedWindows(batch, await client.results({ endpoint, batch: batchId, limit: total })) : [];
      opts.onProgress?.(windows.length, total);
      if (windows.length >= total) return { batch, windows };
    }
    if (Date.now() >= deadline) {
      const what =
        batch?.status === 'dispatched'
          ? `${windows.length} of ${(batch.windows ?? 0) * (batch.apps?.length ?? 0)} window analyses stored`
          : batch
            ? 'the batch is not dispatched yet (is monitoring on, and an app active?)'
            : 'the batch is not recorded yet';
      return { batch, windows, incomplete: `timed out: ${what}` };
    }
    await new Promise((r) => setTimeout(r, Math.min(every, Math.max(0, deadline - Date.now()))));
  }
}

/** Sum the outcome up and decide the exit code: 1 when a result reached `failOn` (even if incomplete), else 2 when incomplete, else 0. */
export function summarize(endpoint: string, batchId: string, outcome: WaitOutcome, failOn: FailOn | null): GateSummary {
  const { batch, windows } = outcome;
  const threshold = failOn ? FAIL_ON[failOn] : undefined;
  const apps = new Map<string, GateApp>();
  for (const name of batch?.apps ?? []) apps.set(name, { app: name, analysed: 0, ok: 0, empty: 0, failed: 0, results: [] });
  const sorted = [...windows].sort((a, b) => a.windowStart - b.windowStart);
  for (const w of sorted) {
    const app = apps.get(w.app) ?? { app: w.app, analysed: 0, ok: 0, empty: 0, failed: 0, results: [] };
    apps.set(w.app, app);
    app.analysed++;
    if (w.outcome === 'error') {
      app.failed++;
      app.firstError ??= w.error ? `${w.error.code}: ${w.error.message}` : 'failed';
      continue;
    }
    if (w.outcome === 'empty') app.empty++;
    else app.ok++;
    for (const r of w.results) {
      let g = app.results.find((x) => x.result === r.name);
      if (!g) {
        g = { app: w.app, result: r.name, windows: 0, worstStatus: r.status, worstValue: r.value, worstWindowStart: w.windowStart, failing: 0 };
        app.results.push(g);
      }
      g.windows++;
      if (r.status > g.worstStatus) Object.assign(g, { worstStatus: r.status, worstValue: r.value, worstWindowStart: w.windowStart });
      if (threshold !== undefined && r.status >= threshold) g.failing++;
    }
  }
  const failedWindows = [...apps.values()].reduce((n, a) => n + a.failed, 0);
  const expected = batch?.status === 'dispatched' ? (batch.windows ?? 0) * (batch.apps?.length ?? 0) : null;
  const incomplete = outcome.incomplete ?? (failedWindows > 0 ? `${failedWindows} window analysis(es) failed` : undefined);
  const failing = [...apps.values()].some((a) => a.results.some((r) => r.failing > 0));
  const verdict = failing ? 'fail' : incomplete ? 'incomplete' : 'pass';
  return {
    endpoint,
    batchId,
    status: batch?.status ?? 'unknown',
    expected,
    analysed: windows.length,
    complete: !incomplete,
    ...(incomplete && { incomplete }),
    failOn,
    apps: [...apps.values()],
    verdict,
    exitCode: verdict === 'fail' ? GateExit.failed : verdict === 'incomplete' ? GateExit.incomplete : GateExit.pass,
  };
}

const statusName = (s: number) => resultStatusName[s as ResultStatus] ?? String(s);

/** The summary as lines of text. */
export function summaryText(s: GateSummary): string {
  const out = [`batch ${s.batchId} of ${s.endpoint}: ${s.analysed}${s.expected === null ? '' : ` of ${s.expected}`} window analyses stored (${s.status})`];
  for (const a of s.apps) {
    out.push(`  ${a.app}: ${a.analysed} window(s): ${a.ok} ok, ${a.empty} empty, ${a.failed} failed${a.firstError ? ` (${a.firstError})` : ''}`);
    for (const r of a.results) {
      out.push(
        `    ${r.result}: worst ${statusName(r.worstStatus)} (value ${r.worstValue} in the window of ${new Date(r.worstWindowStart).toISOString()})` +
          (s.failOn ? `, ${r.failing} of ${r.windows} window(s) at ${s.failOn} or above` : ''),
      );
    }
  }
  const why =
    s.verdict === 'fail'
      ? `a result reached ${s.failOn}${s.incomplete ? ` (and the analysis is incomplete: ${s.incomplete})` : ''}`
      : s.verdict === 'incomplete'
        ? `the analysis is incomplete: ${s.incomplete}`
        : s.failOn
          ? `no result reached ${s.failOn}`
          : 'every window analysed';
  out.push(`${s.verdict.toUpperCase()}: ${why} (exit ${s.exitCode})`);
  return `${out.join('\n')}\n`;
}

/** Text made safe for XML 1.0 attribute values and content: escaped, tabs and line breaks kept, without the characters XML cannot hold. */
export function xmlEscape(text: string): string {
  return (
    text
      .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
      // as character references, or a parser normalizes them to spaces in attribute values
      .replace(/[\t\n\r]/g, (c) => `&#${c.charCodeAt(0)};`)
  );
}

/**
 * The JUnit XML report: a test suite per app, a test case per result of the app (a failure when it
 * reached `--fail-on`), and a test case `windows` per app that is an error when windows failed or
 * are missing. An incomplete analysis with no app to blame is one error test case `analysis`.
 */
export function junitXml(s: GateSummary): string {
  const attr = (o: Record<string, string | number>) =>
    Object.entries(o)
      .map(([k, v]) => ` ${k}="${xmlEscape(String(v))}"`)
      .join('');
  const suites: string[] = [];
  let tests = 0;
  let failures = 0;
  let errors = 0;
  const perApp = s.expected !== null && s.apps.length ? s.expected / s.apps.length : null;
  for (const a of s.apps) {
    const cls = `modelwatch.${s.endpoint}.${s.batchId}.${a.app}`;
    const cases: string[] = [];
    let f = 0;
    let e = 0;
    for (const r of a.results) {
      const head = `<testcase${attr({ classname: cls, name: r.result, time: 0 })}`;
      if (s.failOn && r.failing > 0) {
        f++;
        const msg = `${r.result} reached ${statusName(r.worstStatus)} in ${r.failing} of ${r.windows} window(s) (value ${r.worstValue} in the window of ${new Date(r.worstWindowStart).toISOString()})`;
        cases.push(`${head}><failure${attr({ message: msg, type: statusName(r.worstStatus) })}>${xmlEscape(msg)}</failure></testcase>`);
      } else {
        cases.push(`${head}><system-out>${xmlEscape(`worst status ${statusName(r.worstStatus)} over ${r.windows} window(s)`)}</system-out></testcase>`);
      }
    }
    const missing = perApp === null ? null : perApp - a.analysed;
    const problem = [a.failed ? `${a.failed} window(s) failed: ${a.firstError}` : '', missing ? `${missing} window(s) not analysed: ${s.incomplete ?? ''}` : '']
      .filter(Boolean)
      .join('; ');
    const head = `<testcase${attr({ classname: cls, name: 'windows', time: 0 })}`;
    if (problem) {
      e++;
      cases.push(`${head}><error${attr({ message: problem, type: a.failed ? 'WINDOW_FAILED' : 'INCOMPLETE' })}>${xmlEscape(problem)}</error></testcase>`);
    } else {
      cases.push(`${head}><system-out>${xmlEscape(`${a.analysed} window(s): ${a.ok} ok, ${a.empty} empty`)}</system-out></testcase>`);
    }
    tests += cases.length;
    failures += f;
    errors += e;
    suites.push(
      `  <testsuite${attr({ name: a.app, tests: cases.length, failures: f, errors: e, skipped: 0 })}>\n${cases.map((c) => `    ${c}\n`).join('')}  </testsuite>\n`,
    );
  }
  if (s.incomplete && errors === 0) {
    tests++;
    errors++;
    const cls = `modelwatch.${s.endpoint}.${s.batchId}`;
    suites.push(
      `  <testsuite${attr({ name: 'analysis', tests: 1, failures: 0, errors: 1, skipped: 0 })}>\n    <testcase${attr({ classname: cls, name: 'analysis', time: 0 })}><error${attr({ message: s.incomplete, type: 'INCOMPLETE' })}>${xmlEscape(s.incomplete)}</error></testcase>\n  </testsuite>\n`,
    );
  }
  const name = `modelwatch batch ${s.endpoint}/${s.batchId}`;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites${attr({ name, tests, failures, errors })}>\n${suites.join('')}</testsuites>\n`;
}
