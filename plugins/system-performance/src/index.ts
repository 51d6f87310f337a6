/**
 * system-performance: serving latency, error rate and data quality of each window.
 *
 * Latency: quantiles of `ctx.sample.latencyMicros` (rows that reported one), linear
 * interpolation as numpy.quantile. Error rate: the host does not carry an error flag per row
 * yet, so a row counts as an error when every output of it is missing (the model server sent
 * no prediction for it). Data quality: the missing values of each feature, and among them the
 * values that arrived with a type other than the reference's (`ctx.sampleStats[f].wrongType`).
 * Results `latency_p99`, `error_rate` and `data_quality` (kind system_performance) against
 * configured thresholds.
 *
 * Runs inside the sandbox: pure ECMAScript, no Node or web APIs.
 */
import {
  MonitoringApplication,
  ResultKind,
  ResultStatus,
  type JsonValue,
  type MonitoringContext,
  type MonitoringMetric,
  type MonitoringResult,
} from '@modelwatch/sdk';
import { pairwiseSum, quantileSorted } from '@modelwatch/sdk/stats';

/** The app's configuration (`config` in plugin.json); see the README. */
export interface SystemPerformanceConfig {
  /** `latency_p99` above this (microseconds) is detected. */
  latencyP99Micros?: number;
  /** `latency_p99` above this (microseconds) is a potential detection. */
  latencyP99WarnMicros?: number;
  /** `error_rate` above this (a share, 0..1) is detected. */
  errorRate?: number;
  /** `error_rate` above this is a potential detection. */
  errorRateWarn?: number;
  /** Latency quantiles reported as metrics `latency_p<100 q>`. @default [0.5, 0.9, 0.99] */
  latencyQuantiles?: number[];
  /** `data_quality` is detected when a feature has a larger share of values of the wrong type than this (plugin.json: 0.01). */
  wrongTypeRate?: number;
  /** ... a potential detection above this (plugin.json: 0, any value of the wrong type). */
  wrongTypeRateWarn?: number;
  /** `data_quality` is detected when a feature's share of missing values exceeds the reference's by more than this (plugin.json: 0.25). */
  missingRateIncrease?: number;
  /** ... a potential detection above this (plugin.json: 0.1). */
  missingRateIncreaseWarn?: number;
}

const APP = 'system-performance';
/** How many features `data_quality` lists in `extraData.columns` (the worst first). */
export const MAX_LISTED_COLUMNS = 50;
/** What counts as an error row, said in every error_rate result. */
export const ERROR_PROXY = 'rows whose outputs are all missing (the host does not record a per-row error flag yet)';

export interface ResolvedConfig {
  latencyP99Micros: number | undefined;
  latencyP99WarnMicros: number | undefined;
  errorRate: number | undefined;
  errorRateWarn: number | undefined;
  latencyQuantiles: number[];
  wrongTypeRate: number | undefined;
  wrongTypeRateWarn: number | undefined;
  missingRateIncrease: number | undefined;
  missingRateIncreaseWarn: number | undefined;
}

/**
 * The configuration with defaults. Its keys and values are checked by `configSchema` in
 * plugin.json, once, when the plugin is published or configured; what a schema cannot say (a
 * warning threshold below its alert) is checked here.
 * @throws {Error} for thresholds out of order
 */
export function resolveConfig(config: SystemPerformanceConfig | undefined): ResolvedConfig {
  const cfg = config ?? {};
  const out: ResolvedConfig = {
    latencyP99Micros: cfg.latencyP99Micros,
    latencyP99WarnMicros: cfg.latencyP99WarnMicros,
    errorRate: cfg.errorRate,
    errorRateWarn: cfg.errorRateWarn,
    latencyQuantiles: cfg.latencyQuantiles ?? [0.5, 0.9, 0.99],
    wrongTypeRate: cfg.wrongTypeRate,
    wrongTypeRateWarn: cfg.wrongTypeRateWarn,
    missingRateIncrease: cfg.missingRateIncrease,
    missingRateIncreaseWarn: cfg.missingRateIncreaseWarn,
  };
  const order = (warn: number | undefined, alert: number | undefined, w: string, a: string) => {
    if (warn !== undefined && alert !== undefined && !(warn < alert)) throw new Error(`${APP}: config ${w} (${warn}) must be below ${a} (${alert})`);
  };
  order(out.latencyP99WarnMicros, out.latencyP99Micros, 'latencyP99WarnMicros', 'latencyP99Micros');
  order(out.errorRateWarn, out.errorRate, 'errorRateWarn', 'errorRate');
  order(out.wrongTypeRateWarn, out.wrongTypeRate, 'wrongTypeRateWarn', 'wrongTypeRate');
  order(out.missingRateIncreaseWarn, out.missingRateIncrease, 'missingRateIncreaseWarn', 'missingRateIncrease');
  return out;
}

/** Status of a value against optional warn / alert thresholds (strictly above). */
export function thresholdStatus(value: number, warn: number | undefined, alert: number | undefined): ResultStatus {
  if (alert !== undefined && value > alert) return ResultStatus.Detected;
  if (warn !== undefined && value > warn) return ResultStatus.PotentialDetection;
  return ResultStatus.NoDetection;
}

/** `latency_p99`, `latency_p99_9` for 0.999, ... */
export function quantileName(q: number): string {
  return `latency_p${String(Math.round(q * 1e6) / 1e4).replace('.', '_')}`;
}

/** One feature's data quality in a window. */
interface ColumnQuality {
  column: string;
  rows: number;
  missing: number;
  wrongType: number;
  missingRate: number;
  wrongTypeRate: number;
  referenceMissingRate: number;
  /** missingRate − referenceMissingRate. */
  missingIncrease: number;
}

/**
 * `data_quality`: the share of the window's feature values that are missing (null, or made
 * missing because their type differs from the reference's), with the status of the worst
 * feature: by its share of values of the wrong type, and by how much its share of missing
 * values exceeds the reference's.
 */
export function dataQuality(ctx: MonitoringContext<SystemPerformanceConfig>, cfg: ResolvedConfig): { result: MonitoringResult; metrics: MonitoringMetric[] } {
  const rows = ctx.sample.length;
  const thresholds = {
    wrongTypeRate: cfg.wrongTypeRate ?? null,
    wrongTypeRateWarn: cfg.wrongTypeRateWarn ?? null,
    missingRateIncrease: cfg.missingRateIncrease ?? null,
    missingRateIncreaseWarn: cfg.missingRateIncreaseWarn ?? null,
  };
  const result = (value: number, status: ResultStatus, extraData: Record<string, JsonValue>): MonitoringResult => ({
    name: 'data_quality',
    value,
    kind: ResultKind.SystemPerformance,
    status,
    extraData: { ...extraData, ...thresholds },
  });
  const features = ctx.endpoint.featureNames.filter((f) => ctx.sampleStats[f] !== undefined);
  if (rows === 0 || features.length === 0) {
    const reason = rows === 0 ? 'window has no rows' : 'the endpoint has no features';
    return { result: result(0, ResultStatus.Irrelevant, { reason, rows }), metrics: [] };
  }
  const columns: ColumnQuality[] = features.map((column) => {
    const s = ctx.sampleStats[column]!;
    const ref = ctx.featureStats[column];
    const n = s.count + s.missing;
    const refRows = ref ? ref.count + ref.missing : 0;
    const referenceMissingRate = refRows > 0 ? ref!.missing / refRows : 0;
    const wrongType = s.wrongType ?? 0;
    const missingRate = n > 0 ? s.missing / n : 0;
    return {
      column,
      rows: n,
      missing: s.missing,
      wrongType,
      missingRate,
      wrongTypeRate: n > 0 ? wrongType / n : 0,
      referenceMissingRate,
      missingIncrease: missingRate - referenceMissingRate,
    };
  });
  let missing = 0;
  let wrong = 0;
  let values = 0;
  for (const c of columns) {
    missing += c.missing;
    wrong += c.wrongType;
    values += c.rows;
  }
  // the status of the worst feature, with the checks that set it
  let status: ResultStatus = ResultStatus.NoDetection;
  const reasons: string[] = [];
  const pct = (v: number) => `${Math.round(v * 1e4) / 100}%`;
  for (const c of columns) {
    const byType = c.wrongType > 0 ? thresholdStatus(c.wrongTypeRate, cfg.wrongTypeRateWarn, cfg.wrongTypeRate) : ResultStatus.NoDetection;
    const byMissing = thresholdStatus(c.missingIncrease, cfg.missingRateIncreaseWarn, cfg.missingRateIncrease);
    if (byType !== ResultStatus.NoDetection) reasons.push(`${c.column}: ${pct(c.wrongTypeRate)} of its values of the wrong type`);
    if (byMissing !== ResultStatus.NoDetection) {
      reasons.push(`${c.column}: ${pct(c.missingRate)} of its values missing (reference: ${pct(c.referenceMissingRate)})`);
    }
    status = Math.max(status, byType, byMissing) as ResultStatus;
  }
  const listed = columns
    .filter((c) => c.missing > 0)
    .sort((a, b) => b.wrongTypeRate - a.wrongTypeRate || b.missingIncrease - a.missingIncrease)
    .slice(0, MAX_LISTED_COLUMNS);
  const extraData: Record<string, JsonValue> = {
    rows,
    features: features.length,
    values,
    missingValues: missing,
    wrongTypeValues: wrong,
    missingShare: values > 0 ? missing / values : 0,
    wrongTypeShare: values > 0 ? wrong / values : 0,
    reasons: reasons.slice(0, MAX_LISTED_COLUMNS),
    columns: Object.fromEntries(
      listed.map((c) => [
        c.column,
        {
          missing: c.missing,
          wrongType: c.wrongType,
          missingShare: c.missingRate,
          wrongTypeShare: c.wrongTypeRate,
          referenceMissingShare: c.referenceMissingRate,
        },
      ]),
    ),
    ...(columns.filter((c) => c.missing > 0).length > listed.length ? { columnsListed: listed.length } : {}),
  };
  return {
    result: result(values > 0 ? missing / values : 0, status, extraData),
    metrics: [
      { name: 'missing_values', value: missing },
      { name: 'wrong_type_values', value: wrong },
    ],
  };
}

/**
 * Output per window: results `latency_p99`, `error_rate` and `data_quality` (kind
 * system_performance), and metrics `rows`, `rows_per_second`, `error_rows`, `latency_rows`,
 * `latency_mean`, `latency_max`, the configured latency quantiles, `missing_values` and
 * `wrong_type_values`.
 */
export default class SystemPerformance extends MonitoringApplication<SystemPerformanceConfig> {
  doTracking(ctx: MonitoringContext<SystemPerformanceConfig>): Array<MonitoringResult | MonitoringMetric> {
    const cfg = resolveConfig(ctx.config);
    const rows = ctx.sample.length;
    const seconds = (ctx.windowEnd.getTime() - ctx.windowStart.getTime()) / 1000;
    const result = (name: string, value: number, status: ResultStatus, extraData: Record<string, JsonValue>): MonitoringResult => ({
      name,
      value,
      kind: ResultKind.SystemPerformance,
      status,
      extraData,
    });
    const out: Array<MonitoringResult | MonitoringMetric> = [
      { name: 'rows', value: rows },
      { name: 'rows_per_second', value: seconds > 0 ? rows / seconds : 0 },
    ];

    // latency
    const lat = ctx.sample.latencyMicros;
    const known = new Float64Array(lat.length);
    let n = 0;
    for (let i = 0; i < lat.length; i++) if (Number.isFinite(lat[i])) known[n++] = lat[i]!;
    const sorted = known.subarray(0, n).sort();
    out.push({ name: 'latency_rows', value: n });
    const latencyThresholds = { latencyP99Micros: cfg.latencyP99Micros ?? null, latencyP99WarnMicros: cfg.latencyP99WarnMicros ?? null };
    if (n === 0) {
      out.push(
        result('latency_p99', 0, ResultStatus.Irrelevant, {
          reason: rows === 0 ? 'window has no rows' : 'no row of the window reports a latency (latencyMicros)',
          rows,
          ...latencyThresholds,
        }),
      );
    } else {
      const quantiles: Record<string, number> = {};
      for (const q of cfg.latencyQuantiles) {
        const name = quantileName(q);
        if (name === 'latency_p99') continue;
        quantiles[name] = quantileSorted(sorted, q);
        out.push({ name, value: quantiles[name] });
      }
      out.push({ name: 'latency_mean', value: pairwiseSum(sorted) / n }, { name: 'latency_max', value: sorted[n - 1]! });
      const p99 = quantileSorted(sorted, 0.99);
      out.push(
        result('latency_p99', p99, thresholdStatus(p99, cfg.latencyP99WarnMicros, cfg.latencyP99Micros), {
          rows,
          latencyRows: n,
          ...latencyThresholds,
          ...(cfg.latencyP99Micros === undefined && cfg.latencyP99WarnMicros === undefined ? { note: 'no threshold configured (latencyP99Micros)' } : {}),
        }),
      );
    }

    // data quality: missing values and values of the wrong type per feature
    const quality = dataQuality(ctx, cfg);
    out.push(quality.result, ...quality.metrics);

    // error rate: rows whose outputs are all missing
    const outputs = ctx.endpoint.labelNames.filter((o) => ctx.sample.has(o));
    const errorThresholds = { errorRate: cfg.errorRate ?? null, errorRateWarn: cfg.errorRateWarn ?? null, errorDefinition: ERROR_PROXY };
    if (rows === 0 || outputs.length === 0) {
      out.push(
        result('error_rate', 0, ResultStatus.Irrelevant, {
          reason: rows === 0 ? 'window has no rows' : 'the endpoint has no outputs to tell errors by',
          rows,
          ...errorThresholds,
        }),
      );
      return out;
    }
    const cols = outputs.map((o) => ctx.sample.column(o));
    let errors = 0;
    for (let i = 0; i < rows; i++) {
      let missing = true;
      for (const c of cols) {
        const v = c[i];
        if (v !== null && !(typeof v === 'number' && Number.isNaN(v))) {
          missing = false;
          break;
        }
      }
      if (missing) errors++;
    }
    const rate = errors / rows;
    out.push({ name: 'error_rows', value: errors });
    out.push(
      result('error_rate', rate, thresholdStatus(rate, cfg.errorRateWarn, cfg.errorRate), {
        rows,
        errorRows: errors,
        ...errorThresholds,
        ...(cfg.errorRate === undefined && cfg.errorRateWarn === undefined ? { note: 'no threshold configured (errorRate)' } : {}),
      }),
    );
    return out;
  }
}
