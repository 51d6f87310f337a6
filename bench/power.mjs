// Power benchmark of the drift detectors: false alarms without a shift and detection under
// shifts of several kinds and intensities, windows of 10 to 500 rows, on a generated data set and
// two real ones (scikit-learn's bundled wine and breast cancer), for every built-in drift app and
// decision mode, run in the sandbox exactly as `modelwatch plugin test` runs them (the same
// `localInput`, one kept PluginSandbox per app as a runner keeps one per version), and for two
// baselines implemented here with the SDK's statistics (equal to scipy): KS per feature with a
// Bonferroni correction (Alibi Detect's TabularDrift: chi-square contingency for categories) and
// an MMD permutation test (Gaussian kernel, median bandwidth, features standardized by the
// reference; 100 permutations against a reference sample of max(n, 100) rows).
//
//   pip install scikit-learn                      # the real data sets (the machine's package index)
//   npx tsc -b && node --no-node-snapshot bench/power.mjs [--quick] [--out results.json]
//       [--datasets synthetic,wine,breast_cancer] [--workers N]   (one data set per process runs them side by side)
//   node --no-node-snapshot bench/power.mjs --general-drift   (MLRun's general_drift by window size, no shift)
//
// Sampling: every reference (1,000 rows) and every window is drawn with replacement from a
// population: the generated model, or a real data set's rows (178 and 569 rows: too few to
// draw without replacement, so both samples come from the data set's empirical distribution,
// under which "no shift" holds exactly; rows repeat, so the KS tests see ties and are
// conservative there). 100 references per data set (a detector's false-alarm rate varies with
// the reference it got: the figures average over many), trials spread over them; fixed seeds.
//
// Full run: 1,000 no-shift trials per window size (split evenly over the data sets: the
// false-alarm target is per window size) and 100 per shift cell (10 cells) per data set.
// --quick: 200 and 20, sizes 10, 50, 200, 20 references (a smoke run, a few minutes).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { parseFlags } from './lib/flags.mjs';

const DATASETS = ['synthetic', 'wine', 'breast_cancer'];
// the command line, on the main thread (a worker gets its settings from it)
const flags = isMainThread
  ? parseFlags(
      'node --no-node-snapshot bench/power.mjs [--quick] [--out results.json] [--datasets synthetic,wine,breast_cancer] [--workers N]\nnode --no-node-snapshot bench/power.mjs --general-drift',
      {
        quick: { type: 'boolean', default: false, describe: 'a smoke run: 200 no-shift and 20 shift trials, sizes 10, 50, 200, 20 references' },
        out: { type: 'string', describe: 'a JSON file to write the settings, counts and times to' },
        datasets: {
          type: 'string',
          default: DATASETS.join(','),
          coerce: (text) => {
            const names = text.split(',');
            const unknown = names.filter((d) => !DATASETS.includes(d));
            if (unknown.length) throw new Error(`${unknown.join(', ')}: not one of ${DATASETS.join(', ')}`);
            return names;
          },
          describe: 'the data sets, comma-separated (one per process runs them side by side)',
        },
        workers: { type: 'number', describe: 'worker threads (default: the cores, at most 2)' },
        'general-drift': { type: 'boolean', default: false, describe: "instead, MLRun's general_drift by window size, no shift" },
      },
    )
  : undefined;

const ALPHA = 0.05;
const REFERENCE_ROWS = 1000;
// Three app runs per window; the other decision modes of the same apps are decided from their
// outputs with the apps' own rules (the per-feature results they publish), because running every
// mode in the sandbox would more than double the run time. Every 25th window also runs each
// derived mode in the sandbox and the run counts any disagreement (printed; expected 0).
const APP_RUNS = [
  { name: 'histogram-data-drift (calibrated)', app: 'histogram-data-drift', config: { decision: 'calibrated' } },
  { name: 'data-drift (share)', app: 'data-drift', config: {} },
  { name: 'drift (bh)', app: 'drift', config: {} },
];
const DERIVED = [
  { name: 'histogram-data-drift (mlrun)', app: 'histogram-data-drift', config: {}, from: 'histogram-data-drift (calibrated)' },
  { name: 'data-drift (bh)', app: 'data-drift', config: { datasetDecision: 'bh' }, from: 'data-drift (share)' },
  { name: 'data-drift (bonferroni)', app: 'data-drift', config: { datasetDecision: 'bonferroni' }, from: 'data-drift (share)' },
  { name: 'drift (bonferroni)', app: 'drift', config: { correction: 'bonferroni' }, from: 'drift (bh)' },
];
const APP_DETECTORS = [DERIVED[0], APP_RUNS[0], APP_RUNS[1], DERIVED[1], DERIVED[2], APP_RUNS[2], DERIVED[3]];
const BASELINES = ['KS-Bonferroni (baseline)', 'MMD permutation (baseline)'];
const DETECTORS = [...APP_DETECTORS.map((d) => d.name), ...BASELINES];
const SUMMARY_RESULT = { 'histogram-data-drift': 'general_drift', 'data-drift': 'data_drift', drift: 'drift' };
const CHECK_EVERY = 25;

/** Whether a derived mode alarms, from the output (all results) of the app run it derives from. */
function derivedAlarm(name, results, adjustPValues) {
  const summary = (n) => results.find((x) => x.name === n);
  if (name === 'histogram-data-drift (mlrun)') {
    // MLRun's thresholds on general_drift (0.7 detected); irrelevant windows stay irrelevant
    const g = summary('general_drift');
    return g.status !== -1 && g.value >= 0.7;
  }
  if (name.startsWith('data-drift (')) {
    const p = results.filter((x) => x.name !== 'data_drift' && x.status !== -1 && typeof x.extraData?.pValue === 'number').map((x) => x.extraData.pValue);
    if (p.length === 0) return false;
    return Math.min(...adjustPValues(p, name.includes('bh') ? 'bh' : 'bonferroni')) < ALPHA;
  }
  // drift (bonferroni): min(1, m min p) for the features, then the app's combination with the MMD
  const d = summary('drift');
  if (d.status === -1) return false;
  const p = Object.values(d.extraData.features ?? {}).map((f) => f.pValue);
  const ps = [];
  if (p.length) ps.push(Math.min(1, p.length * Math.min(...p)));
  if (typeof d.extraData.mmd?.pValue === 'number') ps.push(d.extraData.mmd.pValue);
  return ps.length > 0 && Math.min(1, ps.length * Math.min(...ps)) < ALPHA;
}

const SHIFTS = [
  { name: 'noise 0.5', kind: 'noise', level: 0.5 },
  { name: 'noise 1.0', kind: 'noise', level: 1.0 },
  { name: 'zeroing 5%', kind: 'zeroing', level: 0.05 },
  { name: 'zeroing 25%', kind: 'zeroing', level: 0.25 },
  { name: 'imbalance 0.7', kind: 'imbalance', level: 0.7 },
  { name: 'imbalance 0.9', kind: 'imbalance', level: 0.9 },
  { name: 'scaling 1.1', kind: 'scaling', level: 0.1 },
  { name: 'scaling 1.5', kind: 'scaling', level: 0.5 },
  { name: 'one feature +0.5 sd', kind: 'mean', level: 0.5 },
  { name: 'one feature +1 sd', kind: 'mean', level: 1.0 },
];

function settings({ quick, out, datasets, workers }) {
  return quick
    ? { quick, out, datasets, workers, sizes: [10, 50, 200], noShiftTrials: 200, shiftTrials: 20, references: 20 }
    : { quick, out, datasets, workers, sizes: [10, 20, 50, 100, 200, 500], noShiftTrials: 1000, shiftTrials: 100, references: 100 };
}

// ------------------------------------------------------------------------------------------
// data sets

/** mulberry32 seeded by a string, as the SDK's createRandom. */
async function randomFor(createRandom, ...parts) {
  let h = 2166136261;
  for (const c of parts.join('|')) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return createRandom(h >>> 0);
}

/** The generated population: 8 numeric features (correlated, skewed, integer, binary) and 2 categorical ones, a latent class. */
function syntheticDataset() {
  const numeric = ['x0', 'x1', 'x2', 'x3', 'skewed', 'count', 'uniform', 'flag'];
  const categorical = ['segment', 'channel'];
  const segments = Array.from({ length: 25 }, (_, k) => `s${k}`);
  const zipf = segments.map((_, k) => 1 / (k + 1) ** 1.3);
  const ztotal = zipf.reduce((a, b) => a + b, 0);
  const pick = (r, weights, total) => {
    let u = r.uniform() * total;
    for (let k = 0; k < weights.length; k++) if ((u -= weights[k]) < 0) return k;
    return weights.length - 1;
  };
  const row = (r, c) => {
    const z = r.normal();
    const w = r.normal();
    return {
      x0: z + 0.8 * c,
      x1: 0.7 * z + 0.7 * r.normal() - 0.5 * c,
      x2: 0.6 * w + 0.8 * r.normal(),
      x3: 0.6 * w + 0.8 * r.normal() + 0.3 * c,
      skewed: Math.exp(0.6 * r.normal()) + 0.5 * c,
      count: Math.floor(-Math.log(1 - r.uniform()) * (3 + 2 * c)),
      uniform: r.uniform() * 10,
      flag: r.uniform() < 0.3 + 0.2 * c ? 1 : 0,
      segment: segments[pick(r, zipf, ztotal)],
      channel: ['web', 'store', 'phone'][pick(r, c ? [0.5, 0.3, 0.2] : [0.3, 0.5, 0.2], 1)],
    };
  };
  return {
    name: 'synthetic',
    numeric,
    categorical,
    classes: [0.5, 0.5],
    draw(r, n, classProbs = [0.5, 0.5]) {
      const out = Object.fromEntries([...numeric, ...categorical].map((f) => [f, []]));
      for (let i = 0; i < n; i++) {
        const c = r.uniform() < classProbs[1] ? 1 : 0;
        const x = row(r, c);
        for (const f of [...numeric, ...categorical]) out[f].push(x[f]);
      }
      return out;
    },
  };
}

/** A real data set's rows as a population: draws with replacement, by class when class shares are given. */
function realDataset(name, d) {
  const byClass = new Map();
  d.classes.forEach((c, i) => (byClass.get(c) ?? byClass.set(c, []).get(c)).push(i));
  const classIds = [...byClass.keys()].sort((a, b) => a - b);
  const natural = classIds.map((c) => byClass.get(c).length / d.rows.length);
  return {
    name,
    numeric: d.features,
    categorical: [],
    classes: natural,
    draw(r, n, classProbs) {
      const out = Object.fromEntries(d.features.map((f) => [f, []]));
      for (let i = 0; i < n; i++) {
        let idx;
        if (!classProbs) idx = r.int(d.rows.length);
        else {
          let u = r.uniform();
          let k = 0;
          while (k < classIds.length - 1 && (u -= classProbs[k]) >= 0) k++;
          const rows = byClass.get(classIds[k]);
          idx = rows[r.int(rows.length)];
        }
        d.features.forEach((f, j) => out[f].push(d.rows[idx][j]));
      }
      return out;
    },
  };
}

function std(values) {
  const m = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - m) ** 2, 0) / values.length) || 1;
}

/** Class shares with class 0 raised to `share`, the others in their natural proportions. */
function imbalanced(natural, share) {
  const rest = natural.slice(1).reduce((a, b) => a + b, 0);
  return [share, ...natural.slice(1).map((p) => ((1 - share) * p) / rest)];
}

/** A window of `n` rows with `shift` applied (sd: the population's standard deviation per numeric feature). */
function shiftedWindow(ds, sd, r, n, shift) {
  const cols = ds.draw(r, n, shift?.kind === 'imbalance' ? imbalanced(ds.classes, shift.level) : undefined);
  if (!shift) return cols;
  for (const [j, f] of ds.numeric.entries()) {
    const c = cols[f];
    for (let i = 0; i < n; i++) {
      if (shift.kind === 'noise') c[i] += r.normal() * shift.level * sd[f];
      else if (shift.kind === 'zeroing' && r.uniform() < shift.level) c[i] = 0;
      else if (shift.kind === 'scaling') c[i] *= 1 + shift.level;
      else if (shift.kind === 'mean' && j === 0) c[i] += shift.level * sd[f];
    }
  }
  return cols;
}

function table(cols) {
  const columns = Object.keys(cols);
  return { columns, rows: cols[columns[0]].length, values: cols };
}

// ------------------------------------------------------------------------------------------
// the worker: runs its share of the references

async function worker({ settings: s, realData, part, parts }) {
  const [{ bundlePlugin }, { PluginSandbox }, { localInput }, stats] = await Promise.all([
    import('../host/dist/plugins/index.js'),
    import('../host/dist/runner/index.js'),
    import('../host/dist/runner/local.js'),
    import('../sdk/dist/stats/index.js'),
  ]);
  const { createRandom, ks2samp, chi2Contingency, mmdTest, adjustPValues, shuffleInPlace } = stats;
  const bundles = {};
  const sandboxes = {};
  for (const app of ['histogram-data-drift', 'data-drift', 'drift']) {
    bundles[app] = await bundlePlugin(fileURLToPath(new URL(`../plugins/${app}/`, import.meta.url)));
    sandboxes[app] = PluginSandbox.fromBundle(bundles[app]);
  }
  const datasets = [syntheticDataset(), ...Object.entries(realData).map(([name, d]) => realDataset(name, d))].filter((d) => s.datasets.includes(d.name));
  const counts = {};
  const ms = Object.fromEntries(DETECTORS.map((d) => [d, 0]));
  const checks = { done: 0, mismatches: [] };
  let windows = 0;
  const add = (key, alarm) => {
    const c = (counts[key] ??= [0, 0]);
    c[0] += alarm ? 1 : 0;
    c[1] += 1;
  };

  const ksBonferroni = (ds, ref, win) => {
    const p = [];
    for (const f of ds.numeric) p.push(ks2samp(ref[f], win[f]).pValue);
    for (const f of ds.categorical) {
      const keys = [...new Set([...ref[f], ...win[f]])];
      const count = (vals) => keys.map((k) => vals.filter((v) => v === k).length);
      p.push(keys.length < 2 ? 1 : chi2Contingency([count(ref[f]), count(win[f])]).pValue);
    }
    return Math.min(...adjustPValues(p, 'bonferroni')) < ALPHA;
  };
  const mmdBaseline = (ds, ref, win, r) => {
    const n = win[ds.numeric[0]].length;
    const m = Math.min(REFERENCE_ROWS, Math.max(n, 100));
    // a sample without replacement: duplicated rows would make the reference look tighter than the window
    const rows = shuffleInPlace(
      Int32Array.from({ length: REFERENCE_ROWS }, (_, i) => i),
      r,
    ).subarray(0, m);
    const refCols = ds.numeric.map((f) => Float64Array.from(rows, (i) => ref[f][i]));
    const winCols = ds.numeric.map((f) => Float64Array.from(win[f]));
    return mmdTest(refCols, winCols, { permutations: 100, seed: r.int(2 ** 31) }).pValue < ALPHA;
  };

  const cells = [
    { name: 'none', shift: undefined, trials: Math.ceil(s.noShiftTrials / s.datasets.length) },
    ...SHIFTS.map((sh) => ({ name: sh.name, shift: sh, trials: s.shiftTrials })),
  ];
  for (const ds of datasets) {
    const sdRandom = await randomFor(createRandom, ds.name, 'sd');
    const population = ds.draw(sdRandom, 20000);
    const sd = Object.fromEntries(ds.numeric.map((f) => [f, std(population[f])]));
    for (let k = part; k < s.references; k += parts) {
      const ref = ds.draw(await randomFor(createRandom, ds.name, 'reference', k), REFERENCE_ROWS);
      const refTable = table(ref);
      for (const size of s.sizes) {
        for (const cell of cells) {
          for (let t = k; t < cell.trials; t += s.references) {
            const r = await randomFor(createRandom, ds.name, cell.name, size, t);
            const win = shiftedWindow(ds, sd, r, size, cell.shift);
            const input = localInput(bundles.drift, { sample: table(win), reference: refTable });
            const outputs = {};
            for (const d of APP_RUNS) {
              const t0 = performance.now();
              const out = JSON.parse(
                await sandboxes[d.app].run({ ...input, applicationName: d.app, config: { ...bundles[d.app].manifest.config, ...d.config } }),
              );
              ms[d.name] += performance.now() - t0;
              outputs[d.name] = Array.isArray(out) ? out : [out];
              const res = outputs[d.name].find((x) => x.name === SUMMARY_RESULT[d.app]);
              add(`${ds.name}|${d.name}|${cell.name}|${size}`, res?.status === 2);
            }
            const check = ++windows % CHECK_EVERY === 0;
            for (const d of DERIVED) {
              const alarm = derivedAlarm(d.name, outputs[d.from], adjustPValues);
              add(`${ds.name}|${d.name}|${cell.name}|${size}`, alarm);
              if (check) {
                const out = JSON.parse(
                  await sandboxes[d.app].run({ ...input, applicationName: d.app, config: { ...bundles[d.app].manifest.config, ...d.config } }),
                );
                const res = (Array.isArray(out) ? out : [out]).find((x) => x.name === SUMMARY_RESULT[d.app]);
                checks.done++;
                if ((res?.status === 2) !== alarm) checks.mismatches.push(`${d.name} ${ds.name} ${cell.name} n=${size}`);
              }
            }
            let t0 = performance.now();
            add(`${ds.name}|${BASELINES[0]}|${cell.name}|${size}`, ksBonferroni(ds, ref, win));
            ms[BASELINES[0]] += performance.now() - t0;
            t0 = performance.now();
            add(`${ds.name}|${BASELINES[1]}|${cell.name}|${size}`, mmdBaseline(ds, ref, win, r));
            ms[BASELINES[1]] += performance.now() - t0;
          }
        }
      }
      parentPort.postMessage({ progress: `${ds.name} reference ${k + 1}/${s.references} (${new Date().toISOString().slice(11, 19)})` });
    }
  }
  for (const sb of Object.values(sandboxes)) sb.dispose();
  parentPort.postMessage({ counts, ms, checks });
}

// ------------------------------------------------------------------------------------------
// the main thread: data, workers, tables

/** Wilson score interval for k of n at normal quantile z. */
function wilson(k, n, z) {
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}
const pct = (x) => (x * 100).toFixed(1).padStart(5);

async function main() {
  const s = settings(flags);
  let realData;
  try {
    realData = JSON.parse(execFileSync('python3', [fileURLToPath(new URL('power_data.py', import.meta.url))], { maxBuffer: 64 * 1024 * 1024 }).toString());
  } catch (err) {
    console.error(`bench/power_data.py failed (pip install scikit-learn): ${err.message}`);
    process.exit(1);
  }
  const parts = s.workers ?? Math.max(1, Math.min(2, availableParallelism()));
  const started = performance.now();
  const results = await Promise.all(
    Array.from(
      { length: parts },
      (_, part) =>
        new Promise((resolve, reject) => {
          const w = new Worker(new URL(import.meta.url), { workerData: { settings: s, realData, part, parts } });
          w.on('message', (m) => (m.progress ? process.stderr.write(`  [${part}] ${m.progress}\n`) : resolve(m)));
          w.on('error', reject);
          w.on('exit', (code) => code !== 0 && reject(new Error(`worker exited with ${code}`)));
        }),
    ),
  );
  const counts = {};
  const ms = Object.fromEntries(DETECTORS.map((d) => [d, 0]));
  const checks = { done: 0, mismatches: [] };
  for (const r of results) {
    checks.done += r.checks.done;
    checks.mismatches.push(...r.checks.mismatches);
    for (const [k, [a, n]] of Object.entries(r.counts)) {
      const c = (counts[k] ??= [0, 0]);
      c[0] += a;
      c[1] += n;
    }
    for (const [d, v] of Object.entries(r.ms)) ms[d] += v;
  }
  const rate = (ds, d, cell, size) => {
    const c = counts[`${ds}|${d}|${cell}|${size}`];
    return c ? c[0] / c[1] : NaN;
  };
  const datasets = ['synthetic', ...Object.keys(realData)].filter((d) => s.datasets.includes(d));
  const lines = [];
  const say = (l = '') => lines.push(l);
  const width = Math.max(...DETECTORS.map((d) => d.length)) + 2;
  say(
    `power benchmark: ${s.quick ? 'QUICK ' : ''}alpha ${ALPHA}, reference ${REFERENCE_ROWS} rows, ${s.references} references per data set, ` +
      `${s.noShiftTrials} no-shift trials per size (over the data sets), ${s.shiftTrials} per shift cell; ${((performance.now() - started) / 1000).toFixed(0)} s on ${parts} worker(s)`,
  );
  say(`alarm = status detected; apps run in the sandbox as \`modelwatch plugin test\` runs them; windows drawn with replacement (see the header)`);

  for (const ds of datasets) {
    say();
    say(`== ${ds}: false alarms without a shift, % (95% Wilson interval; ${counts[`${ds}|drift (bh)|none|${s.sizes[0]}`][1]} trials per size)`);
    say(''.padEnd(width) + s.sizes.map((n) => `n=${n}`.padStart(20)).join(''));
    for (const d of DETECTORS) {
      say(
        d.padEnd(width) +
          s.sizes
            .map((n) => {
              const c = counts[`${ds}|${d}|none|${n}`];
              const [lo, hi] = wilson(c[0], c[1], 1.96);
              return `${pct(c[0] / c[1])} (${pct(lo).trim()}-${pct(hi).trim()})`.padStart(20);
            })
            .join(''),
      );
    }
    say();
    say(`== ${ds}: detection %, per shift (columns) and window size`);
    const shortNames = SHIFTS.map((sh) => sh.name.replace('one feature ', '1f ').replace('imbalance', 'imbal'));
    for (const n of s.sizes) {
      say(`n=${n}`.padEnd(width) + shortNames.map((x) => x.padStart(11)).join('') + '       mean');
      for (const d of DETECTORS) {
        const rates = SHIFTS.map((sh) => rate(ds, d, sh.name, n));
        say(d.padEnd(width) + rates.map((x) => pct(x).padStart(11)).join('') + pct(rates.reduce((a, b) => a + b, 0) / rates.length).padStart(11));
      }
    }
    say();
    say(`== ${ds}: smallest window size with >= 80% detection (">${s.sizes.at(-1)}": none)`);
    say(''.padEnd(width) + shortNames.map((x) => x.padStart(11)).join(''));
    for (const d of DETECTORS) {
      say(
        d.padEnd(width) +
          SHIFTS.map((sh) => {
            const n = s.sizes.find((size) => rate(ds, d, sh.name, size) >= 0.8);
            return (n === undefined ? `>${s.sizes.at(-1)}` : String(n)).padStart(11);
          }).join(''),
      );
    }
  }

  // targets for drift (bh, the default): false alarms per window size (the no-shift trials of
  // all data sets together), detection per data set and window size
  say();
  say('== targets for drift (default: bh)');
  let ok = true;
  for (const n of s.sizes) {
    const [k, total] = datasets.reduce(
      ([a, b], ds) => {
        const c = counts[`${ds}|drift (bh)|none|${n}`];
        return [a + c[0], b + c[1]];
      },
      [0, 0],
    );
    const upper = wilson(k, total, 2.3263)[1];
    const fa = upper <= ALPHA + 0.02;
    ok &&= fa;
    say(
      `n=${String(n).padEnd(4)} false alarms ${k}/${total} = ${pct(k / total)}%, one-sided 99% upper bound ${pct(upper)}% <= ${ALPHA * 100 + 2}%: ${fa ? 'yes' : 'NO'}`,
    );
  }
  for (const ds of datasets) {
    for (const n of s.sizes) {
      const mean = (d) => SHIFTS.reduce((a, sh) => a + rate(ds, d, sh.name, n), 0) / SHIFTS.length;
      const best = Math.max(mean(BASELINES[0]), mean(BASELINES[1]));
      const det = mean('drift (bh)') >= best - 0.05;
      ok &&= det;
      say(
        `${ds.padEnd(14)} n=${String(n).padEnd(4)} mean detection over the shifts ${pct(mean('drift (bh)'))}% vs the better baseline ${pct(best)}% - 5: ${det ? 'yes' : 'NO'}`,
      );
    }
  }
  say(ok ? 'all targets met' : 'SOME TARGETS MISSED');
  say(
    `derived decision modes checked against the app run in the sandbox on ${checks.done} windows: ${checks.mismatches.length} disagreements${checks.mismatches.length ? `: ${checks.mismatches.slice(0, 10).join('; ')}` : ''}`,
  );
  say();
  const windows = Object.entries(counts)
    .filter(([k]) => k.includes('|drift (bh)|'))
    .reduce((a, [, [, n]]) => a + n, 0);
  say(`mean cost per window (ms, including the sandbox call for apps), over ${windows} windows:`);
  for (const d of DETECTORS) say(`  ${d.padEnd(width)}${(ms[d] / windows).toFixed(2)}`);
  process.stdout.write(lines.join('\n') + '\n');
  if (s.out) writeFileSync(s.out, JSON.stringify({ settings: s, counts, ms, windows }, null, 1));
}

/**
 * `--general-drift`: MLRun's general_drift without any shift, per window size: its mean and how
 * often it reaches MLRun's thresholds (0.5 potential, 0.7 detected), with histogram-data-drift
 * run in the sandbox on the same data sets (200 windows per size, 20 references).
 */
async function generalDriftBySize() {
  const [{ bundlePlugin }, { PluginSandbox }, { localInput }, { createRandom }] = await Promise.all([
    import('../host/dist/plugins/index.js'),
    import('../host/dist/runner/index.js'),
    import('../host/dist/runner/local.js'),
    import('../sdk/dist/stats/index.js'),
  ]);
  const realData = JSON.parse(execFileSync('python3', [fileURLToPath(new URL('power_data.py', import.meta.url))], { maxBuffer: 64 * 1024 * 1024 }).toString());
  const bundle = await bundlePlugin(fileURLToPath(new URL('../plugins/histogram-data-drift/', import.meta.url)));
  const sb = PluginSandbox.fromBundle(bundle);
  const sizes = [10, 20, 50, 100, 200, 500];
  console.log('MLRun general_drift without a shift (histogram-data-drift, decision mlrun, in the sandbox; 200 windows per size, 20 references of 1,000 rows)');
  console.log('data set'.padEnd(16) + sizes.map((n) => `n=${n}`.padStart(24)).join(''));
  console.log(''.padEnd(16) + sizes.map(() => 'mean  >=0.5  >=0.7'.padStart(24)).join(''));
  for (const ds of [syntheticDataset(), ...Object.entries(realData).map(([name, d]) => realDataset(name, d))]) {
    const refs = [];
    for (let k = 0; k < 20; k++) refs.push(table(ds.draw(await randomFor(createRandom, ds.name, 'reference', k), REFERENCE_ROWS)));
    const cells = [];
    for (const n of sizes) {
      let sum = 0;
      let potential = 0;
      let detected = 0;
      for (let t = 0; t < 200; t++) {
        const r = await randomFor(createRandom, ds.name, 'general-drift', n, t);
        const out = JSON.parse(await sb.run(localInput(bundle, { sample: table(ds.draw(r, n)), reference: refs[t % 20] })));
        const g = out.find((x) => x.name === 'general_drift').value;
        sum += g;
        if (g >= 0.5) potential++;
        if (g >= 0.7) detected++;
      }
      cells.push(`${(sum / 200).toFixed(3)} ${pct(potential / 200)}% ${pct(detected / 200)}%`.padStart(24));
    }
    console.log(ds.name.padEnd(16) + cells.join(''));
  }
  sb.dispose();
}

if (isMainThread) await (flags.generalDrift ? generalDriftBySize() : main());
else await worker(workerData);
