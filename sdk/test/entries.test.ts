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
