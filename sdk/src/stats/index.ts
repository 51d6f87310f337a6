export { histogram, equalWidthEdges } from './histogram.js';
export { pairwiseSum, mean, std, quantiles, quantileSorted } from './summary.js';
export {
  REFERENCE_BINS,
  STATS_QUANTILES,
  isCategorical,
  referenceStats,
  referenceStatsMap,
  windowStats,
  type ColumnValues,
} from './feature-stats.js';
