/**
 * `@modelwatch/sdk/drift`: the column drift engine of the built-in data-drift (features) and
 * prediction-drift (outputs) apps, for any app: per-column drift against the reference rows
 * with Evidently's choice of test, fixed or adaptive thresholds, and a dataset-level result
 * from the share of drifted columns.
 *
 * Runs inside the sandbox: pure ECMAScript, no Node or web APIs.
 *
 * @example
 * ```ts
 * import { runDrift, type DriftConfig } from '@modelwatch/sdk/drift';
 * ```
 * @module
 */
import { DEFAULT_EXTRA_DATA_BYTES, jsonByteLength } from './output.js';
import {
  columnDrift,
  DRIFT_METHODS,
  integerCardinalityType,
  isDrift,
  multipleTests,
  type ColumnDrift,
  type DriftColumnType,
  type DriftMethod,
} from './stats/index.js';
import { DEFAULT_BAND_MULTIPLIER, DEFAULT_MAX_CHUNKS, referenceBand, sampleWithout, type AdaptiveBand } from './thresholds.js';
import { ResultStatus, type JsonValue, type MonitoringContext, type MonitoringResult, type ResultKind, type Sample } from './types.js';

/** The configuration both drift apps take; the column keys are named after what they compare. */
export interface DriftConfig {
  /** A method for every column, or `'auto'` (default) for Evidently's choice. */
  method?: DriftMethod | 'auto';
  /** Threshold per method, e.g. `{ "ks": 0.01, "wasserstein": 0.2 }` (default: Evidently's). */
  methodThresholds?: Partial<Record<DriftMethod, number>>;
  /** Test that `'auto'` uses for columns with more than 2 and at most 5 values (or categorical). @default 'chisquare' */
  categoricalTest?: 'chisquare' | 'chi2_contingency';
  /**
   * How a numeric column is typed. `'legacy'` (default): numeric, as Evidently types a float64
   * column (its legacy `_get_default_stattest` still gives a numeric column with at most 5
   * distinct values the categorical tests). `'integer-cardinality'`: Evidently's current
   * automatic typing, categorical when every non-missing reference value is an integer and
   * there are at most 10 distinct ones (`INTEGER_CARDINALITY_LIMIT`).
   * @default 'legacy'
   */
  columnTyping?: 'legacy' | 'integer-cardinality';
  /** The dataset result is `detected` when the share of drifted columns is at least this. @default 0.5 */
  driftShare?: number;
  /** ... and `potential_detection` when it is at least this. @default driftShare / 2 */
  potentialShare?: number;
  /** `'fixed'` (default): the thresholds above; `'adaptive'`: a band learned from reference chunks. */
  thresholds?: 'fixed' | 'adaptive';
  /** Adaptive: rows per reference chunk. @default the window's row count */
  chunkSize?: number;
  /** Adaptive: k in mean ± k·sigma. @default 3 */
  sigmas?: number;
  /** Adaptive: at most this many reference chunks (evenly spread). @default 20 */
  maxChunks?: number;
  /** Adaptive: fewest chunks for a band; with fewer, fixed thresholds are used and the reason given. @default 3 */
  minChunks?: number;
  /**
   * How the dataset result's status is decided: `share` (Evidently's: the share of drifted
   * columns against driftShare), or a family test of the columns' p-values at `datasetAlpha`:
   * `bh` (Benjamini-Hochberg) or `bonferroni`. Columns scored by a distance have no p-value
   * and do not take part in `bh` / `bonferroni`.
   * @default 'share'
   */
  datasetDecision?: 'share' | 'bh' | 'bonferroni';
  /** `bh` / `bonferroni`: detected when the smallest adjusted p-value is below this. @default 0.05 */
  datasetAlpha?: number;
}

/** What differs between the two apps. */
export interface DriftSpec {
  app: string;
  kind: ResultKind;
  /** The dataset-level result, e.g. `data_drift`. */
  summaryName: string;
  /** 'feature' or 'output', for messages. */
  what: string;
  /** Config keys: the list of columns, methods per column, thresholds per column. */
  columnsKey: string;
  methodsKey: string;
  thresholdsKey: string;
  /** The columns compared when the config does not list them. */
  defaultColumns: (ctx: MonitoringContext<never>) => readonly string[];
}

/** Why a column was not compared (keys of `extraData.skipped`). */
export const SKIP_REASONS = {
  missing_from_window: 'the window has no such column',
  missing_from_reference: 'the reference rows have no such column',
  type_mismatch: 'the column holds numbers in one of reference and window, strings in the other',
  method_not_applicable: 'the configured method does not apply to the column type (ks and wasserstein need numbers)',
  no_reference_values: 'every reference value of the column is missing',
  no_window_values: 'every window value of the column is missing',
} as const;
export type SkipReason = keyof typeof SKIP_REASONS;

/** The configuration after validation, with defaults. */
export interface ResolvedDriftConfig {
  columns: string[] | undefined;
  method: DriftMethod | 'auto';
  columnMethods: Record<string, DriftMethod>;
  methodThresholds: Partial<Record<DriftMethod, number>>;
  columnThresholds: Record<string, number>;
  categoricalTest: 'chisquare' | 'chi2_contingency';
  columnTyping: 'legacy' | 'integer-cardinality';
  driftShare: number;
  potentialShare: number;
  thresholds: 'fixed' | 'adaptive';
  chunkSize: number | undefined;
  sigmas: number;
  maxChunks: number;
  minChunks: number;
  datasetDecision: 'share' | 'bh' | 'bonferroni';
  datasetAlpha: number;
}

const METHODS = Object.keys(DRIFT_METHODS) as DriftMethod[];

/** What a schema's errorMessage says of a value it refuses: the value, as JSON. */
const GOT = 'got ${0}';

/**
 * The `configSchema` of a drift app (its plugin.json): every key of {@link DriftConfig}, with
 * the column keys of `spec`, and the messages the host gives when it refuses a config at publish
 * or configure. The built-in apps' plugin.json hold exactly this (a test checks it).
 */
export function driftConfigSchema(spec: Pick<DriftSpec, 'what' | 'columnsKey' | 'methodsKey' | 'thresholdsKey'>): Record<string, JsonValue> {
  const methodList = METHODS.join(', ');
  const positive = (description: string, pValue: boolean): Record<string, JsonValue> => ({
    type: 'number',
    exclusiveMinimum: 0,
    ...(pValue ? { exclusiveMaximum: 1 } : {}),
    description,
    errorMessage: {
      type: `must be a positive number, ${GOT}`,
      exclusiveMinimum: `must be a positive number, ${GOT}`,
      ...(pValue ? { exclusiveMaximum: `is a p-value threshold and must be below 1, ${GOT}` } : {}),
    },
  });
  const integer = (description: string): Record<string, JsonValue> => ({
    type: 'integer',
    minimum: 2,
    description,
    errorMessage: `must be an integer >= 2, ${GOT}`,
  });
  const share = (description: string): Record<string, JsonValue> => ({
    type: 'number',
    exclusiveMinimum: 0,
    maximum: 1,
    description,
    errorMessage: `must be a number in (0, 1], ${GOT}`,
  });
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      [spec.columnsKey]: {
        type: 'array',
        items: { type: 'string' },
        description: `the ${spec.what}s to compare (default: all the endpoint's)`,
        errorMessage: `must be an array of column names, ${GOT}`,
      },
      method: {
        enum: ['auto', ...METHODS],
        description: "a method for every column, or 'auto' (default) for Evidently's choice",
        errorMessage: `must be one of 'auto', ${methodList}, ${GOT}`,
      },
      [spec.methodsKey]: {
        type: 'object',
        additionalProperties: { enum: METHODS, errorMessage: `must be one of ${methodList}, ${GOT}` },
        description: `a method per ${spec.what}`,
        errorMessage: { type: `must be an object of column name -> method, ${GOT}` },
      },
      methodThresholds: {
        type: 'object',
        additionalProperties: false,
        properties: Object.fromEntries(METHODS.map((m) => [m, positive(`the threshold of ${m}`, DRIFT_METHODS[m].kind === 'test')])),
        description: 'a threshold per method, e.g. { "ks": 0.01 } (default: Evidently\'s)',
        errorMessage: { type: `must be an object of method -> threshold, ${GOT}` },
      },
      [spec.thresholdsKey]: {
        type: 'object',
        additionalProperties: positive(`the threshold of one ${spec.what}`, false),
        description: `a threshold per ${spec.what} (wins over methodThresholds)`,
        errorMessage: { type: `must be an object of column name -> threshold, ${GOT}` },
      },
      categoricalTest: {
        enum: ['chisquare', 'chi2_contingency'],
        description: "the test 'auto' uses for columns with few values",
        errorMessage: `must be 'chisquare' or 'chi2_contingency', ${GOT}`,
      },
      columnTyping: {
        enum: ['legacy', 'integer-cardinality'],
        description: 'how a numeric column is typed',
        errorMessage: `must be 'legacy' or 'integer-cardinality', ${GOT}`,
      },
      driftShare: share('the dataset result is detected when the share of drifted columns is at least this (default 0.5)'),
      potentialShare: share('... and potential_detection when it is at least this (default driftShare / 2)'),
      thresholds: {
        enum: ['fixed', 'adaptive'],
        description: 'fixed (default) or adaptive: a band learned from reference chunks',
        errorMessage: `must be 'fixed' or 'adaptive', ${GOT}`,
      },
      chunkSize: integer("adaptive: rows per reference chunk (default: the window's row count)"),
      sigmas: { type: 'number', minimum: 0, description: 'adaptive: k in mean ± k·sigma (default 3)', errorMessage: `must be a number >= 0, ${GOT}` },
      maxChunks: integer('adaptive: at most this many reference chunks (default 20)'),
      minChunks: integer('adaptive: fewest chunks for a band (default 3)'),
      datasetDecision: {
        enum: ['share', 'bh', 'bonferroni'],
        description: "how the dataset result's status is decided (default share)",
        errorMessage: `must be 'share', 'bh' or 'bonferroni', ${GOT}`,
      },
      datasetAlpha: {
        type: 'number',
        exclusiveMinimum: 0,
        exclusiveMaximum: 1,
        description: 'bh / bonferroni: detected when the smallest adjusted p-value is below this (default 0.05)',
        errorMessage: `must be a number in (0, 1), ${GOT}`,
      },
    },
  };
}

/**
 * A drift app's configuration with defaults. Its keys and values are checked by
 * {@link driftConfigSchema} (the app's `configSchema`), once, when the app is published or
 * configured; what a schema cannot say (potentialShare not above driftShare) is checked here.
 * @throws {Error} naming the keys that do not go together
 */
export function resolveDriftConfig(
  config: DriftConfig | undefined,
  spec: Pick<DriftSpec, 'app' | 'columnsKey' | 'methodsKey' | 'thresholdsKey'>,
): ResolvedDriftConfig {
  const cfg = (config ?? {}) as DriftConfig & Record<string, unknown>;
  const driftShare = cfg.driftShare ?? 0.5;
  const potentialShare = cfg.potentialShare ?? driftShare / 2;
  if (potentialShare > driftShare) throw new Error(`${spec.app}: config potentialShare (${potentialShare}) must not exceed driftShare (${driftShare})`);
  return {
    columns: cfg[spec.columnsKey] as string[] | undefined,
    method: cfg.method ?? 'auto',
    columnMethods: { ...(cfg[spec.methodsKey] as Record<string, DriftMethod> | undefined) },
    methodThresholds: { ...cfg.methodThresholds },
    columnThresholds: { ...(cfg[spec.thresholdsKey] as Record<string, number> | undefined) },
    categoricalTest: cfg.categoricalTest ?? 'chisquare',
    columnTyping: cfg.columnTyping ?? 'legacy',
    driftShare,
    potentialShare,
    thresholds: cfg.thresholds ?? 'fixed',
    chunkSize: cfg.chunkSize,
    sigmas: cfg.sigmas ?? DEFAULT_BAND_MULTIPLIER,
    maxChunks: cfg.maxChunks ?? DEFAULT_MAX_CHUNKS,
    minChunks: cfg.minChunks ?? 3,
    datasetDecision: cfg.datasetDecision ?? 'share',
    datasetAlpha: cfg.datasetAlpha ?? 0.05,
  };
}

/**
 * `drift_<column>` with every character outside `[a-zA-Z0-9_]` replaced by `_`, made unique
 * among `taken` with `_2`, `_3`, ... (in column order).
 */
export function resultName(column: string, taken: Set<string>): string {
  const base = `drift_${column.replace(/[^a-zA-Z0-9_]/g, '_')}`;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

/** Dataset status from the share of drifted columns. */
export function shareStatus(share: number, cfg: Pick<ResolvedDriftConfig, 'driftShare' | 'potentialShare'>): ResultStatus {
  if (share >= cfg.driftShare) return ResultStatus.Detected;
  if (share > 0 && share >= cfg.potentialShare) return ResultStatus.PotentialDetection;
  return ResultStatus.NoDetection;
}

function nonMissing(col: Float64Array | ReadonlyArray<string | null>): number {
  let n = 0;
  if (col instanceof Float64Array) {
    for (let i = 0; i < col.length; i++) if (Number.isFinite(col[i])) n++;
  } else for (let i = 0; i < col.length; i++) if (col[i] !== null) n++;
  return n;
}

/** The number a result carries: finite (an infinite chi-square statistic becomes the largest double). */
function finite(v: number): number {
  return Number.isFinite(v) ? v : v > 0 ? Number.MAX_VALUE : -Number.MAX_VALUE;
}

/** The statistic the adaptive band is learned on: KS D, chi-square, |z|, or the distance. */
function bandStatistic(d: ColumnDrift): number {
  return d.method === 'z' ? Math.abs(d.statistic) : d.statistic;
}

interface ColumnOutcome {
  column: string;
  name: string;
  drift?: ColumnDrift;
  skipped?: SkipReason;
  drifted: boolean;
  value: number;
  extra: Record<string, JsonValue>;
}

/**
 * Why a window cannot be compared with the reference, or undefined when it can: the endpoint has
 * no reference rows (also logged as a warning), the reference is empty, or the window is. A drift
 * app answers such a window with an `irrelevant` result whose `extraData.reason` is this text.
 */
export function whyNotComparable(ctx: Pick<MonitoringContext, 'reference' | 'sample' | 'logger'>): string | undefined {
  if (!ctx.reference) {
    ctx.logger.warn('no reference rows: no drift computed');
    return 'no reference rows: the endpoint has no reference data set (modelwatch endpoint set-reference)';
  }
  if (ctx.reference.length === 0) return 'the reference has no rows';
  if (ctx.sample.length === 0) return 'window has no rows';
  return undefined;
}

/**
 * One window of a drift app: a result per column (`drift_<column>`) and the dataset result
 * (`spec.summaryName`). Never throws for data; throws for a bad configuration.
 */
export function runDrift(ctx: MonitoringContext<DriftConfig>, spec: DriftSpec): MonitoringResult[] {
  const cfg = resolveDriftConfig(ctx.config, spec);
  const summary = (status: ResultStatus, value: number, extraData: Record<string, JsonValue>): MonitoringResult => ({
    name: spec.summaryName,
    value,
    kind: spec.kind,
    status,
    extraData,
  });
  const irrelevant = (reason: string, extra: Record<string, JsonValue> = {}) => summary(ResultStatus.Irrelevant, 0, { reason, ...extra });

  const notComparable = whyNotComparable(ctx);
  if (notComparable) return [irrelevant(notComparable)];
  const reference = ctx.reference!;
  const rows = ctx.sample.length;

  const columns = [...new Set(cfg.columns ?? spec.defaultColumns(ctx as MonitoringContext<never>))];
  if (columns.length === 0) return [irrelevant(`the endpoint has no ${spec.what} names and the config lists none`)];
  const chunkSize = cfg.chunkSize ?? rows;

  const taken = new Set<string>([spec.summaryName]);
  const outcomes: ColumnOutcome[] = [];
  for (const column of columns) {
    const name = resultName(column, taken);
    outcomes.push(compareColumn(ctx, cfg, column, name, reference, chunkSize));
  }

  const results: MonitoringResult[] = outcomes.map((o) => ({
    name: o.name,
    value: o.value,
    kind: spec.kind,
    status: o.skipped ? ResultStatus.Irrelevant : o.drifted ? ResultStatus.Detected : ResultStatus.NoDetection,
    extraData: o.extra,
  }));

  const compared = outcomes.filter((o) => !o.skipped);
  const skipped: Record<string, string[]> = {};
  for (const o of outcomes) if (o.skipped) (skipped[o.skipped] ??= []).push(o.column);
  const methods: Record<string, number> = {};
  for (const o of compared) methods[o.drift!.method] = (methods[o.drift!.method] ?? 0) + 1;
  const common: Record<string, JsonValue> = {
    rows,
    referenceRows: reference.length,
    thresholds: cfg.thresholds,
    ...(cfg.thresholds === 'adaptive' ? { chunkSize, sigmas: cfg.sigmas } : {}),
    ...(cfg.columnTyping !== 'legacy' ? { columnTyping: cfg.columnTyping } : {}),
    skipped,
  };
  if (compared.length === 0) {
    return [irrelevant(`no ${spec.what} could be compared with the reference (see skipped)`, common), ...results];
  }
  const drifted = compared.filter((o) => o.drifted).map((o) => o.column);
  const share = drifted.length / compared.length;
  const extra: Record<string, JsonValue> = {
    share,
    driftedCount: drifted.length,
    compared: compared.length,
    driftShare: cfg.driftShare,
    potentialShare: cfg.potentialShare,
    datasetDrift: share >= cfg.driftShare,
    methods,
    ...common,
    drifted,
  };
  if (cfg.datasetDecision === 'share') return [summary(shareStatus(share, cfg), share, fitList(extra, 'drifted', ctx, spec)), ...results];

  // a family test of the columns' p-values: its false-alarm rate is datasetAlpha, whatever the number of columns
  const tested = compared.filter((o) => o.drift!.kind === 'test');
  const untested = compared.filter((o) => o.drift!.kind !== 'test').map((o) => o.column);
  const decision = { datasetDecision: cfg.datasetDecision, datasetAlpha: cfg.datasetAlpha, untested };
  if (tested.length === 0) {
    const reason = `datasetDecision '${cfg.datasetDecision}' needs p-values, and every ${spec.what} was scored by a distance (set method to a test, e.g. 'ks')`;
    return [summary(ResultStatus.Irrelevant, share, fitList({ ...extra, ...decision, reason }, 'drifted', ctx, spec)), ...results];
  }
  const family = multipleTests(
    tested.map((o) => o.drift!.pValue!),
    cfg.datasetAlpha,
    cfg.datasetDecision,
  );
  tested.forEach((o, i) => {
    const r = results.find((x) => x.name === o.name)!;
    r.extraData = { ...r.extraData, adjustedPValue: family.pAdjusted[i]! };
  });
  const status = family.minAdjusted < cfg.datasetAlpha ? ResultStatus.Detected : ResultStatus.NoDetection;
  return [
    summary(
      status,
      share,
      fitList({ ...extra, ...decision, datasetPValue: family.minAdjusted, datasetDrift: status === ResultStatus.Detected }, 'drifted', ctx, spec),
    ),
    ...results,
  ];
}

function compareColumn(
  ctx: MonitoringContext<DriftConfig>,
  cfg: ResolvedDriftConfig,
  column: string,
  name: string,
  reference: Sample,
  chunkSize: number,
): ColumnOutcome {
  const skip = (reason: SkipReason, extra: Record<string, JsonValue> = {}): ColumnOutcome => ({
    column,
    name,
    skipped: reason,
    drifted: false,
    value: 0,
    extra: { column, reason: SKIP_REASONS[reason], skipped: reason, ...extra },
  });
  if (!ctx.sample.has(column)) return skip('missing_from_window');
  if (!reference.has(column)) return skip('missing_from_reference');
  const cur = ctx.sample.column(column);
  const ref = reference.column(column);
  if (cur instanceof Float64Array !== ref instanceof Float64Array) return skip('type_mismatch');
  // numbers are numeric, unless Evidently's current typing makes an integer column with few values categorical
  let type: DriftColumnType = cur instanceof Float64Array ? 'numeric' : 'categorical';
  if (type === 'numeric' && cfg.columnTyping === 'integer-cardinality') type = integerCardinalityType(ref as Float64Array);
  if (nonMissing(ref) === 0) return skip('no_reference_values');
  if (nonMissing(cur) === 0) return skip('no_window_values');
  const requested = cfg.columnMethods[column] ?? cfg.method;
  if (requested !== 'auto' && !DRIFT_METHODS[requested].types.includes(type)) {
    return skip('method_not_applicable', { method: requested, type });
  }
  const computed = columnDrift(ref, cur, { method: requested, categoricalTest: cfg.categoricalTest, type });
  const chosen = computed.method;
  // the threshold depends on the method, known once 'auto' has chosen it
  const threshold = cfg.columnThresholds[column] ?? cfg.methodThresholds[chosen] ?? DRIFT_METHODS[chosen].defaultThreshold;
  const d: ColumnDrift = { ...computed, threshold, drifted: isDrift(chosen, computed.score, threshold) };

  const extra: Record<string, JsonValue> = {
    column,
    type,
    method: d.method,
    statistic: Number.isFinite(d.statistic) ? d.statistic : null,
    ...(d.kind === 'test' ? { pValue: d.pValue! } : { distance: d.statistic }),
    threshold,
    drifted: d.drifted,
    referenceCount: d.referenceCount,
    windowCount: d.currentCount,
    uniqueValues: d.uniqueValues,
    ...(d.bins !== undefined ? { bins: d.bins } : {}),
    ...(d.unseen !== undefined ? { unseen: d.unseen } : {}),
    ...(Number.isFinite(d.statistic) ? {} : { statisticInfinite: true }),
  };
  if (cfg.thresholds === 'fixed') return { column, name, drift: d, drifted: d.drifted, value: d.score, extra };

  // adaptive: the statistic of each reference chunk against the rest of the reference
  const learned = referenceBand(
    reference,
    chunkSize,
    (chunk, range) => {
      const c = chunk.column(column);
      const rest = sampleWithout(reference, range.start, range.end).column(column);
      if (nonMissing(c) === 0 || nonMissing(rest) === 0) return NaN;
      return bandStatistic(columnDrift(rest, c, { method: chosen, type }));
    },
    { multiplier: cfg.sigmas, maxChunks: cfg.maxChunks, minChunks: cfg.minChunks, lowerLimit: 0 },
  );
  const statistic = bandStatistic(d);
  if (!learned.band) {
    return {
      column,
      name,
      drift: d,
      drifted: d.drifted,
      value: d.score,
      extra: { ...extra, thresholdMode: 'fixed', adaptiveFallback: learned.reason },
    };
  }
  const band: AdaptiveBand = learned.band;
  const drifted = statistic > band.upper;
  return {
    column,
    name,
    drift: d,
    drifted,
    value: finite(statistic),
    extra: {
      ...extra,
      thresholdMode: 'adaptive',
      threshold: band.upper,
      drifted,
      fixedThreshold: threshold,
      fixedDrifted: d.drifted,
      band: { mean: band.mean, std: band.std, lower: band.lower, upper: band.upper, sigmas: band.multiplier, chunks: band.count, chunkSize },
    },
  };
}

const jsonBytes = jsonByteLength;

/** `extra` with its list `key` (and the skipped lists) cut to fit the extraData limit, saying so. */
function fitList(extra: Record<string, JsonValue>, key: string, ctx: MonitoringContext<DriftConfig>, spec: DriftSpec): Record<string, JsonValue> {
  const budget = DEFAULT_EXTRA_DATA_BYTES - 512;
  if (jsonBytes(extra) <= budget) return extra;
  const list = extra[key] as string[];
  const skipped = extra.skipped as Record<string, string[]>;
  const out: Record<string, JsonValue> = { ...extra, [key]: [], skipped: {} };
  let used = jsonBytes(out);
  const kept: string[] = [];
  for (const item of list) {
    const cost = jsonBytes(item) + 1;
    if (used + cost > budget) break;
    kept.push(item);
    used += cost;
  }
  const keptSkipped: Record<string, string[]> = {};
  for (const [reason, names] of Object.entries(skipped)) {
    keptSkipped[reason] = [];
    for (const n of names) {
      const cost = jsonBytes(n) + 1 + jsonBytes(reason) + 4;
      if (used + cost > budget) break;
      keptSkipped[reason].push(n);
      used += cost;
    }
  }
  ctx.logger.warn(`extraData of ${spec.summaryName} truncated to fit the limit`, { [key]: list.length, kept: kept.length });
  return {
    ...out,
    [key]: kept,
    skipped: keptSkipped,
    truncated: {
      [key]: { kept: kept.length, total: list.length },
      note: `lists cut to fit ${DEFAULT_EXTRA_DATA_BYTES} bytes; every column has its own result`,
    },
  };
}
