import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/** The entries of @modelwatch/sdk, as an app (or anyone outside the workspace) resolves them. */
describe('the SDK entries', () => {
  it('keeps the host-only helpers out of the app-facing entry', async () => {
    const sdk = await import('@modelwatch/sdk');
    for (const name of ['normalizeAppOutput', 'NAME_PATTERN', 'APPLICATION_MARK', 'UNSERIALIZABLE_PREFIX', 'describe'])
      expect(sdk, name).not.toHaveProperty(name);
    expect(Object.keys(sdk).sort()).toEqual(
      [
        'DEFAULT_EXTRA_DATA_BYTES',
        'InvalidOutputError',
        'ModelwatchSdkError',
        'MonitoringApplication',
        'ResultKind',
        'ResultStatus',
        'describeValue',
        'isInvalidOutputError',
        'jsonByteLength',
        'readConfig',
        'resultKindName',
        'resultStatusName',
      ].sort(),
    );
  });

  it('exports the statistics users call from @modelwatch/sdk/stats, not the numeric machinery behind them', async () => {
    const stats = await import('@modelwatch/sdk/stats');
    for (const name of ['ks2samp', 'chiSquare', 'psi', 'wasserstein', 'columnDrift', 'mmdTest', 'rocAuc', 'quantiles', 'chi2Sf', 'normSf', 'ReferenceCache']) {
      expect(stats, name).toHaveProperty(name);
    }
    const internals = [
      'erf',
      'erfc',
      'gammainc',
      'gammaincc',
      'kolmogorov',
      'smirnov',
      'kstwoSf',
      'selectInPlace',
      'quantilesBySelection',
      'CHI_SQUARE_SUM_RTOL',
      'FLOAT64_EPSILON',
      'sizeBucket',
      'sturgesEdges',
      'binnedDistributions',
      'medianHeuristic',
      'standardizer',
    ];
    for (const name of internals) expect(stats, name).not.toHaveProperty(name);
  });

  it('has no internal export path', () => {
    const require = createRequire(import.meta.url);
    expect(require.resolve('@modelwatch/sdk/testing')).toMatch(/sdk\/dist\/testing\.js$/);
    expect(() => require.resolve('@modelwatch/sdk/internal')).toThrow(expect.objectContaining({ code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' }));
  });

  it('gives tests the validation the host applies to outputs', async () => {
    const { normalizeAppOutput } = await import('@modelwatch/sdk/testing');
    expect(() => normalizeAppOutput({ name: 'bad name', value: 1 })).toThrow(/output\.name/);
  });
});
