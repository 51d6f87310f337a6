/**
 * data-drift: per-feature drift of each window against the endpoint's reference rows, with the
 * test chosen as Evidently chooses it (KS, chi-square, z-test, normed Wasserstein,
 * Jensen-Shannon), numbers equal to scipy's, and dataset drift from the share of drifted
 * features. Fixed thresholds (Evidently's) or adaptive ones learned from reference chunks.
 *
 * Runs inside the sandbox: pure ECMAScript, no Node or web APIs.
 */
import { MonitoringApplication, ResultKind, type MonitoringContext, type MonitoringResult } from '@modelwatch/sdk';
import type { DriftMethod } from '@modelwatch/sdk/stats';
import { runDrift, type DriftConfig, type DriftSpec } from '@modelwatch/sdk/drift';

export { resolveDriftConfig, resultName, shareStatus, SKIP_REASONS, type DriftConfig, type ResolvedDriftConfig } from '@modelwatch/sdk/drift';

/** The app's configuration (`config` in plugin.json); see the README. */
export interface DataDriftConfig extends DriftConfig {
  /** Features to compare (default: all the endpoint's features). */
  features?: string[];
  /** Method per feature, e.g. `{ "age": "psi" }`. */
  featureMethods?: Record<string, DriftMethod>;
  /** Threshold per feature (wins over methodThresholds). */
  featureThresholds?: Record<string, number>;
}

export const DATA_DRIFT: DriftSpec = {
  app: 'data-drift',
  kind: ResultKind.DataDrift,
  summaryName: 'data_drift',
  what: 'feature',
  columnsKey: 'features',
  methodsKey: 'featureMethods',
  thresholdsKey: 'featureThresholds',
  defaultColumns: (ctx) => ctx.endpoint.featureNames,
};

/**
 * Output per window: `data_drift` (kind data_drift, value = share of drifted features) and
 * `drift_<feature>` per feature (value = the p-value or distance; with adaptive thresholds,
 * the statistic compared with the band).
 */
export default class DataDrift extends MonitoringApplication<DataDriftConfig> {
  doTracking(ctx: MonitoringContext<DataDriftConfig>): MonitoringResult[] {
    return runDrift(ctx, DATA_DRIFT);
  }
}
