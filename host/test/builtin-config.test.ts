/**
 * The built-in apps' configs, checked once by their `configSchema` (plugin.json) when a version
 * is published or configured (what the API does with `validateConfig`), not on every window.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '@modelwatch/sdk';
import { driftConfigSchema } from '@modelwatch/sdk/drift';
import { validateConfig } from '../src/plugins/config.js';
import { resolveManifest } from '../src/plugins/manifest.js';

function manifestOf(app: string): Record<string, JsonValue> {
  return JSON.parse(readFileSync(fileURLToPath(new URL(`../../plugins/${app}/plugin.json`, import.meta.url)), 'utf8')) as Record<string, JsonValue>;
}

/** The message `validateConfig` refuses `config` with (the API's answer to a publish or a configure). */
function refusal(app: string, config: Record<string, JsonValue>): string {
  const raw = manifestOf(app);
  try {
    validateConfig(config, raw.configSchema as Record<string, JsonValue>, app);
  } catch (err) {
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
    // a plugin.json with that config does not resolve either
    expect(() => resolveManifest({ ...raw, config }, 'plugin.json')).toThrow(`config of ${app} is not valid`);
    return (err as Error).message;
  }
  throw new Error(`${app} accepted ${JSON.stringify(config)}`);
}

/** The refusal of an unknown key, as the apps' own checks worded it before their configSchema: the known keys named. */
function unknownKey(app: string, key: string, path: string[] = []): string {
  let schema = manifestOf(app).configSchema as { properties?: Record<string, JsonValue> };
  for (const p of path) schema = schema.properties![p] as typeof schema;
  return `${path.length ? path.join('.') : 'config'}: unknown config key '${key}' (known keys: ${Object.keys(schema.properties ?? {}).join(', ')})`;
}

describe('system-performance: configSchema', () => {
  const app = 'system-performance';
  it('accepts its own defaults and a full config', () => {
    expect(() => resolveManifest(manifestOf(app), 'plugin.json')).not.toThrow();
    const full = { latencyP99Micros: 1e6, latencyP99WarnMicros: 1, errorRate: 1, errorRateWarn: 0, latencyQuantiles: [0, 0.5, 1], wrongTypeRate: 0.5 };
    expect(() => validateConfig(full, manifestOf(app).configSchema as Record<string, JsonValue>, app)).not.toThrow();
  });

  it.each([
    [{ errorRate: 2 }, 'errorRate: must be a number from 0 to 1, got 2'],
    [{ missingRateIncrease: 1.5 }, 'missingRateIncrease: must be a number from 0 to 1, got 1.5'],
    [{ wrongTypeRateWarn: -0.1 }, 'wrongTypeRateWarn: must be a number from 0 to 1, got -0.1'],
    [{ errorRateWarn: '0.1' }, 'errorRateWarn: must be a number from 0 to 1, got "0.1"'],
    [{ latencyP99Micros: -1 }, `latencyP99Micros: must be a number from 0 to ${Number.MAX_VALUE}, got -1`],
    [{ latencyQuantiles: [1.5] }, 'latencyQuantiles: must be an array of numbers in [0, 1], got [1.5]'],
    [{ latencyP99: 5 }, unknownKey(app, 'latencyP99')],
  ])('%j: refused with "%s"', (config, message) => {
    expect(refusal(app, config as Record<string, JsonValue>)).toBe(`config of ${app} is not valid:\n  - ${message}`);
  });
});

describe('histogram-data-drift: configSchema', () => {
  const app = 'histogram-data-drift';
  it('accepts its own defaults and a full config', () => {
    expect(() => resolveManifest(manifestOf(app), 'plugin.json')).not.toThrow();
    const full = { potentialThreshold: 0.4, detectedThreshold: 0.6, decision: 'calibrated', alpha: 0.01, potentialAlpha: 0.1, replicates: 1000, seed: 7 };
    expect(() => validateConfig(full, manifestOf(app).configSchema as Record<string, JsonValue>, app)).not.toThrow();
  });

  it.each([
    [{ potentialThreshold: '0.5' }, 'potentialThreshold: must be a finite number, got "0.5"'],
    [{ detectedThreshold: null }, 'detectedThreshold: must be a finite number, got null'],
    [{ decision: 'fixed' }, `decision: must be 'mlrun' or 'calibrated', got "fixed"`],
    [{ alpha: 1 }, 'alpha: must be a number in (0, 1), got 1'],
    [{ potentialAlpha: 0 }, 'potentialAlpha: must be a number in (0, 1), got 0'],
    [{ replicates: 50 }, 'replicates: must be an integer from 100 to 10000, got 50'],
    [{ seed: 1.5 }, 'seed: must be an integer from 0 to 4294967295, got 1.5'],
    [{ potential_threshold: 0.5 }, unknownKey(app, 'potential_threshold')],
  ])('%j: refused with "%s"', (config, message) => {
    expect(refusal(app, config as Record<string, JsonValue>)).toBe(`config of ${app} is not valid:\n  - ${message}`);
  });
});

describe('model-performance: configSchema', () => {
  const app = 'model-performance';
  it('accepts its own defaults and a full config', () => {
    expect(() => resolveManifest(manifestOf(app), 'plugin.json')).not.toThrow();
    const full = {
      task: 'regression',
      predictionColumn: 'y',
      positiveClass: 'yes',
      metrics: ['mae', 'rmse'],
      referenceTargetColumn: 't',
      referencePredictionColumn: 'p',
      referenceScoreColumn: 's',
      baseline: { mae: 1.5 },
      warnDrop: 0.1,
      alertDrop: 0.2,
      dropMode: 'absolute',
      thresholds: 'adaptive',
      chunkSize: 50,
      sigmas: 2,
      maxChunks: 10,
      minChunks: 2,
      minMatched: 5,
    };
    expect(() => validateConfig(full, manifestOf(app).configSchema as Record<string, JsonValue>, app)).not.toThrow();
  });

  it.each([
    [{ task: 'ranking' }, `task: must be 'classification' or 'regression', got "ranking"`],
    [{ taks: 'regression' }, unknownKey(app, 'taks')],
    [{ positiveClass: null }, 'positiveClass: must be a number or a string, got null'],
    [{ predictionColumn: '' }, 'predictionColumn: must be a column name, got ""'],
    [{ metrics: [] }, 'metrics: must be a non-empty array, got []'],
    [{ metrics: ['auc'] }, 'metrics.0: must be one of accuracy, precision, recall, f1, roc_auc, mae, rmse, mape, got "auc"'],
    [{ baseline: [0.9] }, 'baseline: must be an object of metric -> value, got [0.9]'],
    [{ baseline: { f1: 'high' } }, 'baseline.f1: must be a finite number, got "high"'],
    [{ warnDrop: -0.1 }, 'warnDrop: must be a number >= 0, got -0.1'],
    [{ dropMode: 'ratio' }, `dropMode: must be 'absolute' or 'relative', got "ratio"`],
    [{ thresholds: 'learned' }, `thresholds: must be 'fixed' or 'adaptive', got "learned"`],
    [{ chunkSize: 1 }, 'chunkSize: must be an integer >= 2, got 1'],
    [{ minMatched: 0 }, 'minMatched: must be an integer >= 1, got 0'],
  ])('%j: refused with "%s"', (config, message) => {
    expect(refusal(app, config as Record<string, JsonValue>)).toBe(`config of ${app} is not valid:\n  - ${message}`);
  });
});

describe('data-drift and prediction-drift: configSchema, the SDK drift engine', () => {
  const specs = {
    'data-drift': { what: 'feature', columnsKey: 'features', methodsKey: 'featureMethods', thresholdsKey: 'featureThresholds' },
    'prediction-drift': { what: 'output', columnsKey: 'outputs', methodsKey: 'outputMethods', thresholdsKey: 'outputThresholds' },
  } as const;

  it.each(Object.entries(specs))("%s: plugin.json holds the engine's schema for its keys, and its defaults pass", (app, spec) => {
    expect(manifestOf(app).configSchema).toEqual(driftConfigSchema(spec));
    expect(() => resolveManifest(manifestOf(app), 'plugin.json')).not.toThrow();
  });

  it('accepts a full config', () => {
    const full = {
      features: ['a', 'b'],
      method: 'auto',
      featureMethods: { a: 'psi' },
      methodThresholds: { ks: 0.01, wasserstein: 0.2 },
      featureThresholds: { a: 0.3 },
      categoricalTest: 'chi2_contingency',
      columnTyping: 'integer-cardinality',
      driftShare: 1,
      potentialShare: 0.5,
      thresholds: 'adaptive',
      chunkSize: 100,
      sigmas: 2,
      maxChunks: 10,
      minChunks: 2,
      datasetDecision: 'bh',
      datasetAlpha: 0.01,
    };
    expect(() => validateConfig(full, manifestOf('data-drift').configSchema as Record<string, JsonValue>, 'data-drift')).not.toThrow();
  });

  const methods = 'ks, chisquare, chi2_contingency, z, wasserstein, jensenshannon, psi, kl_div';
  it.each([
    [{ methd: 'ks' }, unknownKey('data-drift', 'methd')],
    [{ method: 'anderson' }, `method: must be one of 'auto', ${methods}, got "anderson"`],
    [{ featureMethods: { x: 'auto' } }, `featureMethods.x: must be one of ${methods}, got "auto"`],
    [{ featureMethods: ['ks'] }, 'featureMethods: must be an object of column name -> method, got ["ks"]'],
    [{ methodThresholds: { ks: 1.5 } }, 'methodThresholds.ks: is a p-value threshold and must be below 1, got 1.5'],
    [{ methodThresholds: { wasserstein: 0 } }, 'methodThresholds.wasserstein: must be a positive number, got 0'],
    [{ methodThresholds: { foo: 0.1 } }, unknownKey('data-drift', 'foo', ['methodThresholds'])],
    [{ featureThresholds: { x: -1 } }, 'featureThresholds.x: must be a positive number, got -1'],
    [{ driftShare: 0 }, 'driftShare: must be a number in (0, 1], got 0'],
    [{ thresholds: 'learned' }, `thresholds: must be 'fixed' or 'adaptive', got "learned"`],
    [{ chunkSize: 1.5 }, 'chunkSize: must be an integer >= 2, got 1.5'],
    [{ features: 'x' }, 'features: must be an array of column names, got "x"'],
    [{ categoricalTest: 'g' }, `categoricalTest: must be 'chisquare' or 'chi2_contingency', got "g"`],
    [{ columnTyping: 'evidently' }, `columnTyping: must be 'legacy' or 'integer-cardinality', got "evidently"`],
    [{ datasetDecision: 'holm' }, `datasetDecision: must be 'share', 'bh' or 'bonferroni', got "holm"`],
    [{ datasetAlpha: 0 }, 'datasetAlpha: must be a number in (0, 1), got 0'],
    [{ sigmas: -1 }, 'sigmas: must be a number >= 0, got -1'],
  ])('data-drift %j: refused with "%s"', (config, message) => {
    expect(refusal('data-drift', config as Record<string, JsonValue>)).toBe(`config of data-drift is not valid:\n  - ${message}`);
  });

  it("prediction-drift refuses data-drift's column keys", () => {
    expect(refusal('prediction-drift', { features: ['y'] })).toBe(
      `config of prediction-drift is not valid:\n  - ${unknownKey('prediction-drift', 'features')}`,
    );
    expect(refusal('prediction-drift', { outputMethods: { y: 'anova' } })).toBe(
      `config of prediction-drift is not valid:\n  - outputMethods.y: must be one of ${methods}, got "anova"`,
    );
  });
});
