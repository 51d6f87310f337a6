// The cost of checking every value's type against the endpoint's reference at ingest (values of
// the wrong type become missing and are counted), in the stream processor's work per message:
// decoding the JSON, validating the event, storing its rows in row chunks. For an endpoint whose
// features and output all have reference statistics, against the same endpoint without a
// reference (nothing to check) in the same run. Columnar micro-batches of 1000 rows and single
// native events, 4 numeric features and one output.
//
//   node --no-node-snapshot bench/value-types.mjs [--rounds N]
//
// Each round times both back to back, in CPU time of this process (the machine is shared: wall
// time swings with the load), and the ratio of each pair is printed with their median.
// Needs host/dist (npx tsc -b).
import { referenceStatsMap } from '@modelwatch/sdk/stats';
import { parseEvent } from '../host/dist/stream/events.js';
import { RowsChunk } from '../host/dist/nats/rows.js';
import { parseFlags } from './lib/flags.mjs';

const flags = parseFlags('node --no-node-snapshot bench/value-types.mjs [--rounds N]', {
  rounds: { type: 'number', default: 7, describe: 'rounds, each timing with and without a reference back to back' },
});
const ROUNDS = flags.rounds;
const FEATURES = ['f0', 'f1', 'f2', 'f3'];
const BATCH_ROWS = 1000;
const BATCHES = 500;
const SINGLES = 50_000;

let seed = 42;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296) * 100;

const endpoint = (featureStats) => ({
  id: 'e',
  name: 'e',
  featureNames: FEATURES,
  labelNames: ['p0'],
  featureStats,
  monitoring: true,
  createdAt: 0,
  updatedAt: 0,
});
const reference = Object.fromEntries([...FEATURES, 'p0'].map((f) => [f, Array.from({ length: 1000 }, rnd)]));
const withReference = endpoint(referenceStatsMap(reference));
const withoutReference = endpoint({});
// f3 a text feature: its strings make every column of an event worth a look
const PLANS = ['free', 'pro', 'team'];
const textReference = endpoint(referenceStatsMap({ ...reference, f3: Array.from({ length: 1000 }, (_, i) => PLANS[i % 3]) }));
const cellOf = (f) => (f === 'f3' ? PLANS[Math.floor(rnd()) % 3] : +rnd().toFixed(3));

// the messages, as the stream processor receives them
const batches = Array.from({ length: BATCHES }, () =>
  Buffer.from(
    JSON.stringify({
      format: 'columnar',
      when: 1_795_797_600_000,
      inputs: Object.fromEntries(FEATURES.map((f) => [f, Array.from({ length: BATCH_ROWS }, () => +rnd().toFixed(3))])),
      outputs: { p0: Array.from({ length: BATCH_ROWS }, () => +(rnd() / 100).toFixed(4)) },
    }),
  ),
);
const textBatches = Array.from({ length: BATCHES }, () =>
  Buffer.from(
    JSON.stringify({
      format: 'columnar',
      when: 1_795_797_600_000,
      inputs: Object.fromEntries(FEATURES.map((f) => [f, Array.from({ length: BATCH_ROWS }, () => cellOf(f))])),
      outputs: { p0: Array.from({ length: BATCH_ROWS }, () => +(rnd() / 100).toFixed(4)) },
    }),
  ),
);
const singles = Array.from({ length: SINGLES }, (_, i) =>
  Buffer.from(
    JSON.stringify({ when: 1_795_797_600_000, inputs: [FEATURES.map(() => +rnd().toFixed(3))], outputs: [+(rnd() / 100).toFixed(4)], requestId: `r${i}` }),
  ),
);

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Decode and validate every message and store its rows in chunks, as the stream processor does; rows per CPU second. */
function ingest(messages, ep) {
  const t0 = cpuMs();
  let rows = 0;
  let chunk = new RowsChunk(FEATURES.length, 1);
  messages.forEach((data, seq) => {
    const p = parseEvent(JSON.parse(data.toString('utf8')), ep, 1_795_797_600_000);
    chunk.beginPart(seq, 0);
    chunk.addRange(p, 0, p.n, Infinity);
    rows += p.n;
    if (chunk.bytes >= 512 * 1024) {
      chunk.encode();
      chunk = new RowsChunk(FEATURES.length, 1);
    }
  });
  chunk.encode();
  return rows / ((cpuMs() - t0) / 1000);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (v) => `${(v / 1e6).toFixed(2)} M rows per CPU second`;

for (const [what, events, typed] of [
  ['columnar micro-batches (1000 rows), numbers', batches, withReference],
  ['columnar micro-batches (1000 rows), 3 numeric features and a text one', textBatches, textReference],
  ['single native events, numbers', singles, withReference],
]) {
  // warm up both paths
  ingest(events, withoutReference);
  ingest(events, typed);
  const ratios = [];
  const base = [];
  const checked = [];
  for (let r = 0; r < ROUNDS; r++) {
    const b = ingest(events, withoutReference);
    const c = ingest(events, typed);
    base.push(b);
    checked.push(c);
    ratios.push(c / b);
  }
  console.log(
    `${what}: without a reference ${fmt(median(base))}, types checked ${fmt(median(checked))}; ratio ${median(ratios).toFixed(3)} (rounds: ${ratios.map((x) => x.toFixed(3)).join(' ')})`,
  );
}
