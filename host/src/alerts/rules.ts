/**
 * Alert rules: their shape (a JSON Schema, checked with ajv), the rule file of `--alerts FILE`
 * (YAML or JSON, errors with the line and the reason), and a rule compiled for evaluation
 * (endpoint and result matchers).
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { ErrorObject } from 'ajv';
import { isMap, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { DURATION_PATTERN, parseDuration } from '../config/duration.js';
import { compileGlob, globMatcher } from '../domain/glob.js';
import { matchesSelector, parseSelector, type Selector } from '../domain/selector.js';
import { ModelwatchError } from '../errors.js';
import type { AlertSeverity } from './contract.js';
import { validateChannel, type ChannelSpec } from './notify/channels.js';
import { ajvOnUse, checkOnUse } from '../schema-check.js';

/** The result kinds by name, as rules name them (the SDK's `resultKindName`). */
export const RESULT_KINDS = { data_drift: 0, concept_drift: 1, model_performance: 2, system_performance: 3, anomaly: 4 } as const;
export type ResultKindName = keyof typeof RESULT_KINDS;

/** What makes a window of a series breach the rule: exactly one. */
export interface AlertCondition {
  /** The result's status is at least this (`potential`: 1, `detected`: 2). */
  status?: 'potential' | 'detected';
  /** The result's value is above this. */
  above?: number;
  /** The result's value is below this. */
  below?: number;
  /**
   * A system event: a window of an app failed (its output's outcome is `error`), a plugin is
   * quarantined, the writer is failing (store errors, or outputs waiting more than a minute), the
   * TSDB is failing (the writer's last write to it failed).
   */
  event?: 'window_failed' | 'plugin_quarantined' | 'writer_failing' | 'tsdb_failing';
  /** No events for the endpoint for this long (a duration: `10m`): its windows had no rows for that long. */
  noDataFor?: string;
  /**
   * Dead letters per minute above `above`, averaged over `over` (@default 1m): per endpoint when the
   * rule selects endpoints, else over every letter of `MW_DLQ`.
   */
  deadLetterRate?: { above: number; over?: string };
  /** Fewer than this many runners answer over NATS (every runner of the deployment). */
  runnersBelow?: number;
}

/** An alert rule, as a file or the API gives it. */
export interface AlertRule {
  /** 1-64 letters, digits, `_` or `-`, starting with a letter or digit. */
  name: string;
  description?: string;
  /** @default medium */
  severity?: AlertSeverity;
  /** Which endpoints (every one given must hold; none: every endpoint). */
  endpoints?: { names?: string[]; glob?: string; selector?: string };
  /** Which results (every one given must hold; none: every result). */
  results?: { app?: string; name?: string; kind?: ResultKindName };
  when: AlertCondition;
  /** How many breaching windows fire it: `{ consecutive: N }` or `{ last: K, atLeast: M }`. @default { consecutive: 1 } */
  for?: { consecutive: number } | { last: number; atLeast: number };
  /** `{ auto: K }`: resolved after K normal windows in a row; `manual`: only `alert resolve` resolves it. @default { auto: 1 } */
  reset?: { auto: number } | 'manual';
  /** After an alert of a series resolves, no new one opens for it for this long (window time). @default 0s */
  cooldown?: string;
  /** Channels to notify (the notifier's names); none: the notifier routes by severity and labels. */
  channels?: string[];
  /** Labels added to the alert, for routing. */
  labels?: Record<string, string>;
  /** Notify again every this long (a duration: `4h`) while an alert stays firing (not acknowledged, not silenced). @default never */
  repeatInterval?: string;
}

/** A rule as stored and listed: where it came from. */
export interface AlertRuleRecord extends AlertRule {
  /** `api`: made through the API (KV `mw_alert_rules`); `file`: from `--alerts FILE`, read-only through the API. */
  source: 'api' | 'file';
  createdAt: number;
  createdBy?: string;
}

const NAME = '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$';
/** The events a rule can fire on: per window (`window_failed`), per plugin record, or checked on a timer (`writer_failing`, `tsdb_failing`). */
const SYSTEM_EVENTS = ['window_failed', 'plugin_quarantined', 'writer_failing', 'tsdb_failing'] as const;
const WHEN_KEYS = ['status', 'above', 'below', 'event', 'noDataFor', 'deadLetterRate', 'runnersBelow'] as const;

/** The JSON Schema of one rule (the body of `POST /api/v1/alerts/rules`, an entry of the rule file). */
export const AlertRuleSchema = {
  type: 'object',
  required: ['name', 'when'],
  properties: {
    name: { type: 'string', pattern: NAME, errorMessage: "rule name must be 1-64 letters, digits, '_' or '-', starting with a letter or digit" },
    description: { type: 'string', maxLength: 1024 },
    severity: { enum: ['low', 'medium', 'high', 'critical'], errorMessage: 'severity must be one of low, medium, high, critical' },
    endpoints: {
      type: 'object',
      properties: {
        names: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 256 }, maxItems: 10_000 },
        glob: { type: 'string', minLength: 1, maxLength: 256 },
        selector: { type: 'string', minLength: 1, maxLength: 1024 },
      },
      additionalProperties: false,
      errorMessage: { additionalProperties: 'endpoints takes names, glob and selector only' },
    },
    results: {
      type: 'object',
      properties: {
        app: { type: 'string', minLength: 1, maxLength: 256 },
        name: { type: 'string', minLength: 1, maxLength: 256 },
        kind: { enum: Object.keys(RESULT_KINDS), errorMessage: `kind must be one of ${Object.keys(RESULT_KINDS).join(', ')}` },
      },
      additionalProperties: false,
      errorMessage: { additionalProperties: 'results takes app, name and kind only' },
    },
    when: {
      type: 'object',
      properties: {
        status: { enum: ['potential', 'detected'], errorMessage: 'status must be potential or detected' },
        above: { type: 'number' },
        below: { type: 'number' },
        event: {
          enum: [...SYSTEM_EVENTS],
          errorMessage: `event must be one of ${SYSTEM_EVENTS.join(', ')}`,
        },
        noDataFor: { type: 'string', pattern: DURATION_PATTERN, errorMessage: 'noDataFor must be a duration such as 10m' },
        deadLetterRate: {
          type: 'object',
          required: ['above'],
          properties: {
            above: { type: 'number', minimum: 0 },
            over: { type: 'string', pattern: DURATION_PATTERN },
          },
          additionalProperties: false,
          errorMessage: 'deadLetterRate must be { above: N (dead letters a minute, 0 or more), over: a duration such as 5m }',
        },
        runnersBelow: { type: 'integer', minimum: 1, maximum: 10_000, errorMessage: 'runnersBelow must be a whole number from 1 to 10000' },
      },
      additionalProperties: false,
      minProperties: 1,
      maxProperties: 1,
      errorMessage: {
        type: `when must be an object: one of ${WHEN_KEYS.map((k) => `{ ${k} }`).join(', ')}`,
        minProperties: `when must give exactly one of ${WHEN_KEYS.join(', ')}`,
        maxProperties: `when must give exactly one of ${WHEN_KEYS.join(', ')}`,
        additionalProperties: `when must give exactly one of ${WHEN_KEYS.join(', ')}`,
      },
    },
    for: {
      type: 'object',
      properties: {
        consecutive: { type: 'integer', minimum: 1, maximum: 1000 },
        last: { type: 'integer', minimum: 1, maximum: 1000 },
        atLeast: { type: 'integer', minimum: 1, maximum: 1000 },
      },
      additionalProperties: false,
      oneOf: [
        { required: ['consecutive'], not: { anyOf: [{ required: ['last'] }, { required: ['atLeast'] }] } },
        { required: ['last', 'atLeast'], not: { required: ['consecutive'] } },
      ],
      errorMessage: { oneOf: 'for must be { consecutive: N } or { last: K, atLeast: M }', additionalProperties: 'for takes consecutive, or last and atLeast' },
    },
    reset: {
      oneOf: [
        { const: 'manual' },
        { type: 'object', required: ['auto'], properties: { auto: { type: 'integer', minimum: 1, maximum: 1000 } }, additionalProperties: false },
      ],
      errorMessage: 'reset must be manual or { auto: K } (K normal windows, 1-1000)',
    },
    cooldown: { type: 'string', pattern: DURATION_PATTERN, errorMessage: 'cooldown must be a duration such as 10m' },
    channels: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 128 }, maxItems: 32 },
    labels: { type: 'object', additionalProperties: { type: 'string', maxLength: 256 }, maxProperties: 32 },
    repeatInterval: { type: 'string', pattern: DURATION_PATTERN, errorMessage: 'repeatInterval must be a duration such as 4h' },
  },
  additionalProperties: false,
  errorMessage: {
    type: 'a rule must be an object',
    required: { name: 'a rule needs a name', when: 'a rule needs when (what makes it fire)' },
    additionalProperties: 'a rule takes name, description, severity, endpoints, results, when, for, reset, cooldown, channels, labels, repeatInterval',
  },
} as const;

/** The JSON Schema of a rule file: `{ rules: [...], channels: [...] }` (each channel checked by `validateChannel`). */
export const AlertRuleFileSchema = {
  type: 'object',
  required: ['rules'],
  properties: { rules: { type: 'array', items: AlertRuleSchema }, channels: { type: 'array', items: { type: 'object' } } },
  additionalProperties: false,
  errorMessage: {
    type: 'a rule file must be an object { rules: [...] }',
    required: 'a rule file needs rules: [...]',
    additionalProperties: 'a rule file takes rules and channels only',
  },
} as const;

const ajv = ajvOnUse({ allErrors: true, allowUnionTypes: true, strict: false }, true);
const checkRule = checkOnUse(ajv, AlertRuleSchema);
const checkFile = checkOnUse(ajv, AlertRuleFileSchema);

/** The first error worth reading: one ajv-errors wrote, else the deepest. */
function firstError(errors: readonly ErrorObject[]): ErrorObject {
  return errors.find((e) => e.keyword === 'errorMessage') ?? errors[0]!;
}

function errorText(e: ErrorObject): string {
  const field = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
  return `${field || 'rule'}: ${e.message ?? 'is not valid'}`;
}

/** Check what schemas cannot: the selector parses, globs and durations read. */
function checkSemantics(rule: AlertRule): void {
  if (rule.endpoints?.selector !== undefined) parseSelector(rule.endpoints.selector);
  if (rule.endpoints?.glob !== undefined) compileGlob(rule.endpoints.glob, 'endpoints.glob');
  if (rule.results?.app !== undefined) compileGlob(rule.results.app, 'results.app');
  if (rule.results?.name !== undefined) compileGlob(rule.results.name, 'results.name');
  if (rule.when.noDataFor !== undefined) parseDuration(rule.when.noDataFor, 'when.noDataFor', 'INVALID_ARGUMENT');
  if (rule.cooldown !== undefined) parseDuration(rule.cooldown, 'cooldown', 'INVALID_ARGUMENT');
  if (rule.when.deadLetterRate?.over !== undefined && parseDuration(rule.when.deadLetterRate.over, 'when.deadLetterRate.over', 'INVALID_ARGUMENT') < 1000)
    throw new ModelwatchError('INVALID_ARGUMENT', 'when.deadLetterRate.over: must be at least 1s');
  if (rule.repeatInterval !== undefined && parseDuration(rule.repeatInterval, 'repeatInterval', 'INVALID_ARGUMENT') < 1000)
    throw new ModelwatchError('INVALID_ARGUMENT', 'repeatInterval: must be at least 1s');
  const f = rule.for;
  if (f && 'last' in f && f.atLeast > f.last) throw new ModelwatchError('INVALID_ARGUMENT', `for: atLeast (${f.atLeast}) is more than last (${f.last})`);
}

/** A rule checked: the rule, or `INVALID_ARGUMENT` naming the field and what is wrong. */
export function validateRule(value: unknown): AlertRule {
  if (!checkRule(value)) throw new ModelwatchError('INVALID_ARGUMENT', errorText(firstError(checkRule.errors ?? [])));
  checkSemantics(value as AlertRule);
  return value as AlertRule;
}

/** The line (1-based) of the node at a JSON pointer in a YAML (or JSON) document. */
function lineOf(doc: ReturnType<typeof parseDocument>, counter: LineCounter, pointer: string): number {
  const path =
    pointer === ''
      ? []
      : pointer
          .slice(1)
          .split('/')
          .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  let node: unknown = doc.contents;
  let at = (node as YamlNode | null)?.range?.[0] ?? 0;
  for (const key of path) {
    if (isMap(node)) {
      // a field: the line of its key
      const pair = node.items.find((p) => String((p.key as { value?: unknown } | null)?.value ?? p.key) === key);
      if (!pair) break;
      at = (pair.key as YamlNode | null)?.range?.[0] ?? at;
      node = pair.value;
    } else if (isSeq(node)) {
      // an item: the line where it starts
      node = node.items[Number(key)];
      at = (node as YamlNode | null)?.range?.[0] ?? at;
    } else break;
  }
  return counter.linePos(at).line;
}

/**
 * Parse and check a rule file's text (YAML or JSON: JSON is YAML). Refused with
 * `INVALID_ARGUMENT` `<file>:<line>: <reason>` at the first problem.
 */
export function parseRuleFile(text: string, file = 'alerts file'): AlertRule[] {
  return parseAlertsFile(text, file).rules;
}

/** An `--alerts` file: its rules and its channels (both read-only through the API). */
export interface AlertsFile {
  rules: AlertRule[];
  channels: ChannelSpec[];
}

/** Parse and check an `--alerts` file (YAML or JSON); an error names the file, the line and what is wrong. */
export function parseAlertsFile(text: string, file = 'alerts file'): AlertsFile {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false });
  if (doc.errors.length) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0]?.line ?? counter.linePos(e.pos[0]).line;
    throw new ModelwatchError('INVALID_ARGUMENT', `${file}:${line}: ${e.message.split('\n')[0]}`);
  }
  const value: unknown = doc.toJS();
  if (!checkFile(value)) {
    const e = firstError(checkFile.errors ?? []);
    const field = e.instancePath.replace(/^\//, '').replace(/\//g, '.');
    throw new ModelwatchError('INVALID_ARGUMENT', `${file}:${lineOf(doc, counter, e.instancePath)}: ${field || 'file'}: ${e.message ?? 'is not valid'}`);
  }
  const rules = (value as { rules: AlertRule[] }).rules;
  const seen = new Set<string>();
  rules.forEach((r, i) => {
    const line = lineOf(doc, counter, `/rules/${i}`);
    try {
      checkSemantics(r);
    } catch (err) {
      throw new ModelwatchError('INVALID_ARGUMENT', `${file}:${line}: rules.${i}: ${(err as Error).message}`);
    }
    if (seen.has(r.name)) throw new ModelwatchError('INVALID_ARGUMENT', `${file}:${line}: rules.${i}: rule '${r.name}' is declared twice`);
    seen.add(r.name);
  });
  const channels = ((value as { channels?: unknown[] }).channels ?? []).map((c, i) => {
    try {
      return validateChannel(c);
    } catch (err) {
      throw new ModelwatchError('INVALID_ARGUMENT', `${file}:${lineOf(doc, counter, `/channels/${i}`)}: channels.${i}: ${(err as Error).message}`);
    }
  });
  const names = new Set<string>();
  channels.forEach((c, i) => {
    if (names.has(c.name))
      throw new ModelwatchError('INVALID_ARGUMENT', `${file}:${lineOf(doc, counter, `/channels/${i}`)}: channels.${i}: channel '${c.name}' is declared twice`);
    names.add(c.name);
  });
  return { rules, channels };
}

/** Read and check `--alerts FILE`: its rules. */
export async function loadRuleFile(path: string): Promise<AlertRule[]> {
  return (await loadAlertsFile(path)).rules;
}

/** Read and check `--alerts FILE`: its rules and channels. */
export async function loadAlertsFile(path: string): Promise<AlertsFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ModelwatchError('INVALID_ARGUMENT', `--alerts ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseAlertsFile(text, path);
}

/** What a compiled rule fires on. */
export type ConditionKind =
  'status' | 'above' | 'below' | 'window_failed' | 'plugin_quarantined' | 'no_data' | 'writer_failing' | 'tsdb_failing' | 'dead_letter_rate' | 'runners_below';

/** The conditions checked on a timer (`alerts/system.ts`), not per window. */
export const TIMED_CONDITIONS: ReadonlySet<ConditionKind> = new Set(['writer_failing', 'tsdb_failing', 'dead_letter_rate', 'runners_below']);

/** A rule ready for evaluation: its matchers built once. */
export interface CompiledRule {
  rule: AlertRuleRecord;
  severity: AlertSeverity;
  condition: ConditionKind;
  /** The threshold: the status number (1 potential, 2 detected), the value, the no-data duration (ms), the dead letters a minute, the runners. */
  threshold: number;
  /** Dead-letter rate rules: the span the rate is averaged over (ms). */
  overMs: number;
  /** Repeat notifications of a firing alert every this long (ms); 0: never. */
  repeatMs: number;
  /** Fire after `atLeast` breaching windows among the last `last` (consecutive N: last = atLeast = N, and counted in a row). */
  consecutive: boolean;
  last: number;
  atLeast: number;
  /** Normal windows in a row that resolve it; 0: manual. */
  autoResolve: number;
  cooldownMs: number;
  matchesEndpoint(name: string, tags: Readonly<Record<string, string>> | undefined): boolean;
  matchesResult(app: string, name: string, kind: number): boolean;
  matchesApp(app: string): boolean;
  /** Whether the rule reads results (status, above, below) rather than windows or plugins. */
  onResults: boolean;
}

export function compileRule(rule: AlertRuleRecord): CompiledRule {
  const w = rule.when;
  const condition: ConditionKind =
    w.status !== undefined
      ? 'status'
      : w.above !== undefined
        ? 'above'
        : w.below !== undefined
          ? 'below'
          : w.event !== undefined
            ? w.event
            : w.deadLetterRate !== undefined
              ? 'dead_letter_rate'
              : w.runnersBelow !== undefined
                ? 'runners_below'
                : 'no_data';
  const threshold =
    w.status !== undefined
      ? w.status === 'detected'
        ? 2
        : 1
      : (w.above ??
        w.below ??
        w.deadLetterRate?.above ??
        w.runnersBelow ??
        (w.noDataFor !== undefined ? parseDuration(w.noDataFor, 'when.noDataFor', 'INVALID_ARGUMENT') : 0));
  const f = rule.for ?? { consecutive: 1 };
  const consecutive = 'consecutive' in f;
  const last = 'consecutive' in f ? f.consecutive : f.last;
  const atLeast = 'consecutive' in f ? f.consecutive : f.atLeast;
  const eps = rule.endpoints;
  const names = eps?.names ? new Set(eps.names) : undefined;
  const selector: Selector | undefined = eps?.selector !== undefined ? parseSelector(eps.selector) : undefined;
  const res = rule.results;
  const kind = res?.kind !== undefined ? RESULT_KINDS[res.kind] : undefined;
  const any = (): boolean => true;
  const endpointGlob = eps?.glob !== undefined ? globMatcher(eps.glob) : any;
  const appGlob = res?.app !== undefined ? globMatcher(res.app) : any;
  const nameGlob = res?.name !== undefined ? globMatcher(res.name) : any;
  return {
    rule,
    severity: rule.severity ?? 'medium',
    condition,
    threshold,
    consecutive,
    last,
    atLeast,
    autoResolve: rule.reset === 'manual' ? 0 : (rule.reset?.auto ?? 1),
    cooldownMs: rule.cooldown !== undefined ? parseDuration(rule.cooldown, 'cooldown', 'INVALID_ARGUMENT') : 0,
    overMs: parseDuration(w.deadLetterRate?.over ?? '1m', 'when.deadLetterRate.over', 'INVALID_ARGUMENT'),
    repeatMs: rule.repeatInterval !== undefined ? parseDuration(rule.repeatInterval, 'repeatInterval', 'INVALID_ARGUMENT') : 0,
    onResults: condition === 'status' || condition === 'above' || condition === 'below',
    matchesEndpoint: (name, tags) => (!names || names.has(name)) && endpointGlob(name) && (!selector || matchesSelector(selector, tags)),
    matchesApp: appGlob,
    matchesResult: (app, name, k) => appGlob(app) && nameGlob(name) && (kind === undefined || kind === k),
  };
}
