/**
 * prediction-drift: drift of the model's outputs (the endpoint's label columns) in each window
 * against the outputs in the reference rows, with the SDK's drift engine (`@modelwatch/sdk/drift`, as data-drift): Evidently's choice of
 * test, numbers equal to scipy's, fixed or adaptive thresholds. Kind concept_drift.
 *
 * Runs inside the sandbox: pure ECMAScript, no Node or web APIs.
 */
import { MonitoringApplication, ResultKind, type MonitoringContext, type MonitoringResult } from '@modelwatch/sdk';
import type { DriftMethod } from '@modelwatch/sdk/stats';
import { runDrift, type DriftConfig, type DriftSpec } from '@modelwatch/sdk/drift';

/** The app's configuration (`config` in plugin.json); see the README. */
export interface PredictionDriftConfig extends DriftConfig {
  /** Outputs to compare (default: all the endpoint's outputs). */
  outputs?: string[];
  /** Method per output, e.g. `{ "score": "psi" }`. */
  outputMethods?: Record<string, DriftMethod>;
  /** Threshold per output (wins over methodThresholds). */
  outputThresholds?: Record<string, number>;
}

export const PREDICTION_DRIFT: DriftSpec = {
  app: 'prediction-drift',
  kind: ResultKind.ConceptDrift,
  summaryName: 'prediction_drift',
  what: 'output',
  columnsKey: 'outputs',
  methodsKey: 'outputMethods',
  thresholdsKey: 'outputThresholds',
  defaultColumns: (ctx) => ctx.endpoint.labelNames,
};

/**
 * Output per window: `prediction_drift` (kind concept_drift, value = share of drifted outputs)
 * and `drift_<output>` per output (value = the p-value or distance).
 */
export default class PredictionDrift extends MonitoringApplication<PredictionDriftConfig> {
  doTracking(ctx: MonitoringContext<PredictionDriftConfig>): MonitoringResult[] {
    return runDrift(ctx, PREDICTION_DRIFT);
  }
}
