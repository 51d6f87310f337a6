export { histogram, equalWidthEdges } from './histogram.js';
export { pairwiseSum, mean, std, quantiles, quantileSorted, quantilesBySelection, selectInPlace } from './summary.js';
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
export { chiSquare, CHI_SQUARE_SUM_RTOL, type ChiSquareResult } from './chi-square.js';
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
  medianHeuristic,
  mmdTest,
  standardizer,
  type Columns,
  type MmdTestOptions,
  type MmdTestResult,
  type ReferenceMmd,
  type ReferenceMmdOptions,
  type ReferenceMmdResult,
  type Standardizer,
} from './mmd.js';
export {
  ReferenceCache,
  ReferenceNull,
  referenceFingerprint,
  sizeBucket,
  type NullPValue,
  type ReferenceCacheOptions,
  type ReferenceNullOptions,
} from './reference-null.js';
export { zTestProportions, type ZTestResult } from './z-test.js';
export { wasserstein } from './wasserstein.js';
export { psi, hellinger, totalVariation, klDivergence, jensenShannon, ZERO_BIN_PROBABILITY, type ZeroBinOptions } from './divergence.js';
export { erf, erfc, normCdf, normSf, gammainc, gammaincc, chi2Sf, chi2Cdf } from './special.js';
export { kolmogorov, smirnov, kstwoSf } from './kolmogorov.js';
export {
  columnDrift,
  isDrift,
  selectDriftMethod,
  sturgesEdges,
  binnedDistributions,
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
  FLOAT64_EPSILON,
  type ClassLabel,
  type ClassificationMetrics,
  type RegressionMetrics,
} from './performance.js';
