import type { FeatureStatsMap, JsonValue } from '@modelwatch/sdk';
import { referenceStatsMap } from '@modelwatch/sdk/stats';
import type { DryRunResult, ReferenceTable } from '@modelwatch/protocol';
import { ModelwatchError } from '../errors.js';
import type { PluginBundle } from '../plugins/bundle.js';
import { validateConfig } from '../plugins/config.js';
import { appliesTo, describeEndpoints } from '../store/plugins.js';
import { dryRunInput, dryRunLimits, runDryWindow, syntheticReference, type DryRunEndpoint } from './dry-run.js';
import { sandboxOf, type LogLine, type SampleData, type SandboxInput, type WindowArtifact } from './sandbox.js';
import { packColumns, sampleStatsOf } from './window-data.js';
import { normalizeAppOutput, type NormalizedOutput } from '../sdk-internal.js';

export interface LocalRunOptions {
  /** The window's rows. */
  sample: ReferenceTable;
  /** Training rows: reference statistics (and ctx.reference for apps that ask). */
  reference?: ReferenceTable;
  /** Output (label) columns; the other columns are features. */
  labelNames?: readonly string[];
  /** Ground truth for the sample's rows (same order), by output name: for apps with `groundTruth`. */
  groundTruth?: ReferenceTable;
  /** Replaces the manifest's config. */
  config?: Record<string, JsonValue>;
  windowStart?: number;
  windowEnd?: number;
  onLog?: (line: LogLine) => void;
}

export interface LocalRunResult extends NormalizedOutput {
  durationMs: number;
  /** The artifacts the app attached (`ctx.logArtifact`), in order. */
  artifacts: WindowArtifact[];
}

/**
 * Run a bundled plugin on a local window in the same sandbox the host uses, without a host:
 * `modelwatch plugin test`, and `plugin build --sample`. A config given in `opts` is checked
 * against the plugin's configSchema, as publishing checks it.
 * @throws {ModelwatchError} INVALID_ARGUMENT (config), APP_ERROR, APP_TIMEOUT, APP_MEMORY_LIMIT or APP_INVALID_OUTPUT
 */
export async function runLocal(bundle: PluginBundle, opts: LocalRunOptions): Promise<LocalRunResult> {
  const input = localInput(bundle, opts);
  const sb = sandboxOf(bundle);
  try {
    await sb.check();
    const started = performance.now();
    const artifacts: WindowArtifact[] = [];
    const json = await sb.run(input, { ...(opts.onLog ? { onLog: opts.onLog } : {}), onArtifact: (a) => artifacts.push(a) });
    const durationMs = performance.now() - started;
    try {
      return { ...normalizeAppOutput(JSON.parse(json), { maxExtraDataBytes: bundle.manifest.limits.extraDataBytes }), durationMs, artifacts };
    } catch (err) {
      throw new ModelwatchError(
        'APP_INVALID_OUTPUT',
        `${bundle.manifest.name}@${bundle.manifest.version} returned an invalid output: ${(err as Error).message}`,
      );
    }
  } finally {
    sb.dispose();
  }
}

/**
 * The sandbox input `runLocal` builds for a local window: reference and window statistics as
 * the host computes them, the rows packed as the runner packs them. For tools that run many
 * windows through one kept sandbox (bench/power.mjs), exactly as `plugin test` runs one.
 * @throws {ModelwatchError} INVALID_ARGUMENT for a config its configSchema refuses or a missing column
 */
export function localInput(bundle: PluginBundle, opts: LocalRunOptions): SandboxInput {
  if (opts.config) validateConfig(opts.config, bundle.manifest.configSchema, bundle.manifest.name);
  const labels = opts.labelNames ?? [];
  const features = opts.sample.columns.filter((c) => !labels.includes(c));
  const featureStats: FeatureStatsMap = opts.reference ? referenceStatsMap(pick(opts.reference, [...features, ...labels])) : {};
  const windowStart = opts.windowStart ?? 0;
  const windowEnd = opts.windowEnd ?? windowStart + 600_000;
  const { sample, wrongType } = tableSample(opts.sample, [...features, ...labels], featureStats, true, windowStart);
  const sampleStats = sampleStatsOf(sample, featureStats, wrongType);
  const input: SandboxInput = {
    applicationName: bundle.manifest.name,
    endpoint: { id: '0'.repeat(40), name: 'local', featureNames: features, labelNames: labels },
    windowStart,
    windowEnd,
    sample,
    sampleStats,
    featureStats,
    config: opts.config ?? bundle.manifest.config,
  };
  if (bundle.manifest.referenceRows) {
    // as the host gives it (referenceSample): features and outputs, then the reference's other columns
    const known = [...features, ...labels];
    input.reference = opts.reference
      ? tableSample(
          opts.reference,
          [...known.filter((c) => c in opts.reference!.values), ...opts.reference.columns.filter((c) => !known.includes(c))],
          featureStats,
          false,
          0,
        ).sample
      : { length: 0, columns: [], numeric: [], packed: new Float64Array(0), strings: {}, requestIds: [], timed: false };
  }
  if (bundle.manifest.groundTruth) {
    // ground truth for a local window: columns named `<output>` in opts.groundTruth, aligned by row
    const gt = opts.groundTruth;
    const packedGt = packColumns(
      labels,
      sample.length,
      (c, i) => gt?.values[labels[c]!]?.[i] ?? null,
      () => false,
    );
    const packed = new Float64Array(sample.packed.length + packedGt.packed.length);
    packed.set(sample.packed);
    packed.set(packedGt.packed, sample.packed.length);
    input.sample = { ...sample, packed };
    let matched = 0;
    for (let i = 0; i < sample.length; i++) if (labels.some((l) => (gt?.values[l]?.[i] ?? null) !== null)) matched++;
    input.groundTruth = { matched, numeric: packedGt.numeric, strings: packedGt.strings };
  }
  return input;
}

/**
 * Check a bundle without a host, in the same sandbox: it compiles, its module loads, and it
 * default-exports a class extending MonitoringApplication with doTracking (not called).
 * @throws {ModelwatchError} PLUGIN_LOAD_FAILED saying what is wrong
 */
export async function checkLocal(bundle: PluginBundle): Promise<void> {
  const sb = sandboxOf(bundle);
  try {
    await sb.check();
  } finally {
    sb.dispose();
  }
}

export interface DryRunLocalOptions {
  /** The window the synthetic rows fall in. */
  windowStart: number;
  windowEnd: number;
  /** Replaces the manifest's config. */
  config?: Record<string, JsonValue>;
}

/**
 * The dry run of `plugin publish`, without a host: the app on a small synthetic window of an
 * endpoint (its columns and reference statistics, as `GET /api/v1/endpoints/{name}` gives them),
 * with a synthetic reference for apps with `referenceRows`. What the app did, never a throw;
 * `skipped` when the app does not apply to the endpoint.
 */
export async function dryRunLocal(bundle: PluginBundle, endpoint: DryRunEndpoint, opts: DryRunLocalOptions): Promise<DryRunResult> {
  const m = bundle.manifest;
  if (!appliesTo(m.endpoints, endpoint)) {
    return {
      endpoint: endpoint.name,
      outcome: 'skipped',
      rows: 0,
      durationMs: 0,
      reason: `not run: ${m.name} does not apply to endpoint '${endpoint.name}' (its endpoints: ${describeEndpoints(m.endpoints!)})`,
    };
  }
  const limits = dryRunLimits(m.limits);
  const sb = sandboxOf(bundle, { limits, atPublish: true });
  try {
    const reference = m.referenceRows ? syntheticReference(endpoint) : undefined;
    const input = dryRunInput(endpoint, {
      applicationName: m.name,
      config: opts.config ?? m.config,
      windowStart: opts.windowStart,
      windowEnd: opts.windowEnd,
      referenceRows: m.referenceRows,
      groundTruth: m.groundTruth !== undefined,
      ...(reference ? { reference } : {}),
    });
    return await runDryWindow(sb, input, limits);
  } finally {
    sb.dispose();
  }
}

function pick(t: ReferenceTable, names: readonly string[]): ReferenceTable['values'] {
  const out: ReferenceTable['values'] = {};
  for (const n of names) if (t.values[n]) out[n] = t.values[n]!;
  return out;
}

/** A table as a sample; a window (`timed`) has the reference's types, its values of the wrong type made missing and counted, as on the host. */
function tableSample(
  t: ReferenceTable,
  names: readonly string[],
  stats: FeatureStatsMap,
  timed: boolean,
  at: number,
): { sample: SampleData; wrongType: number[] } {
  const missing = names.filter((n) => !(n in t.values));
  if (missing.length) throw new ModelwatchError('INVALID_ARGUMENT', `the sample has no column ${missing.map((m) => `'${m}'`).join(', ')}`);
  const cols = names.map((n) => t.values[n]!);
  const extra = timed ? [new Float64Array(t.rows).fill(at), new Float64Array(t.rows).fill(NaN)] : [];
  const { numeric, strings, packed, wrongType } = packColumns(
    names,
    t.rows,
    (c, i) => cols[c]![i] ?? null,
    (n) => stats[n]?.type === 'categorical',
    extra,
    timed ? (n) => stats[n] : undefined,
  );
  return {
    sample: { length: t.rows, columns: [...names], numeric, strings, packed, requestIds: new Array<string | null>(t.rows).fill(null), timed },
    wrongType,
  };
}
