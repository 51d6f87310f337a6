/**
 * `@modelwatch/sdk/stats`: the statistics monitoring apps call (tests, distances, drift,
 * summaries, model performance), equal to scipy/numpy. The numeric machinery behind them
 * (special functions such as `erf`, `gammainc` and `kstwoSf`, selection, tolerances) stays in
 * their modules: the SDK's modules and tests import it from there, apps do not.
 * @module
 */
export { histogram, equalWidthEdges } from './histogram.js';
export { pairwiseSum, mean, std, quantiles, quantileSorted } from './summary.js';
export {
  REFERENCE_BINS,
  STATS_QUANTILES,
  isCategorical,
  isWrongType,
  referenceStats,
  referenceStatsMap,
  windowStats,
  type ColumnValues,
} from './feature-stats.js';
export { ks2samp, ks2sampSorted, KS_MAX_EXACT_N, type Ks2SampOptions, type Ks2SampResult } from './ks.js';
export { chiSquare, type ChiSquareResult } from './chi-square.js';
export {
  chi2Contingency,
  categoricalTest,
  countCategories,
  CATEGORICAL_MIN_EXPECTED,
  type CategoryCounts,
  type Chi2ContingencyResult,
  type CategoricalTestOptions,
  type CategoricalTestResult,
} from './contingency.js';
export { adjustPValues, multipleTests, type MultipleTestsResult, type PValueCorrection } from './multiple-testing.js';
export { createRandom, shuffleInPlace, type Random } from './random.js';
export {
  createReferenceMmd,
  mmdTest,
  type Columns,
  type MmdTestOptions,
  type MmdTestResult,
  type ReferenceMmd,
  type ReferenceMmdOptions,
  type ReferenceMmdResult,
} from './mmd.js';
export {
  ReferenceCache,
  ReferenceNull,
  referenceFingerprint,
  type NullPValue,
  type ReferenceCacheOptions,
  type ReferenceNullOptions,
} from './reference-null.js';
export { zTestProportions, type ZTestResult } from './z-test.js';
export { wasserstein } from './wasserstein.js';
export { psi, hellinger, totalVariation, klDivergence, jensenShannon, ZERO_BIN_PROBABILITY, type ZeroBinOptions } from './divergence.js';
export { normCdf, normSf, chi2Sf, chi2Cdf } from './special.js';
export {
  columnDrift,
  isDrift,
  selectDriftMethod,
  DRIFT_METHODS,
  DRIFT_SMALL_REFERENCE_ROWS,
  DRIFT_NUMERIC_MIN_UNIQUE,
  DRIFT_BINNING_MAX_UNIQUE,
  INTEGER_CARDINALITY_LIMIT,
  integerCardinalityType,
  type ColumnDrift,
  type ColumnDriftOptions,
  type DriftColumnType,
  type DriftMethod,
  type DriftMethodInfo,
  type DriftValues,
} from './drift.js';
export {
  rocAuc,
  classificationMetrics,
  regressionMetrics,
  classKey,
  type ClassLabel,
  type ClassificationMetrics,
  type RegressionMetrics,
} from './performance.js';
