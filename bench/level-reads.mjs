// LevelDB reads the writer makes per batch of outputs: asynchronous (a hop to libuv's threads and
// back per call) against synchronous (`getSync`, on the calling thread), the process's CPU per
// batch of 12 reads over 6 sublevels, 3,000 batches each, after 30-op batches were written.
//
//   node bench/level-reads.mjs
//
// Prints the CPU (user + system, every thread) and wall time a batch, and each way's ratio to the
// asynchronous reads of 6 `getMany` (what the writer did before it read synchronously).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { parseFlags } from './lib/flags.mjs';

// no flags: --help prints what it measures, an unknown flag is refused
parseFlags('node --no-node-snapshot bench/level-reads.mjs', {});

const dir = mkdtempSync(join(tmpdir(), 'level-reads-'));
const db = new Level(join(dir, 'db'), { valueEncoding: 'json' });
await db.open();
const subs = Array.from({ length: 6 }, (_, i) => db.sublevel(`s${i}`, { valueEncoding: 'json' }));
const N = 3000;
const value = { a: 1, b: 'x'.repeat(200), c: [1, 2, 3] };

async function measure(label, f) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await f(i);
  const cpu = process.cpuUsage(cpu0);
  return { label, cpu: (cpu.user + cpu.system) / N, wall: ((performance.now() - t0) * 1000) / N };
}

const write = await measure('write: one batch of 30 puts', (i) =>
  db.batch(Array.from({ length: 30 }, (_, j) => ({ type: 'put', sublevel: subs[j % 6], key: `k${i}/${j}`, value }))),
);
// each batch reads a key that is stored and one that is not, in every sublevel
const keysOf = (i) => [`k${i}/1`, `missing${i}`];
const reads = [
  await measure('6 getMany of 2 keys (one a sublevel)', (i) => Promise.all(subs.map((s) => s.getMany(keysOf(i))))),
  await measure('12 get, together', (i) => Promise.all(subs.flatMap((s) => keysOf(i).map((k) => s.get(k))))),
  await measure('12 getSync', (i) => {
    for (const s of subs) for (const k of keysOf(i)) s.getSync(k);
  }),
];
await db.close();
rmSync(dir, { recursive: true, force: true });

console.log(`${write.label}: ${write.cpu.toFixed(1)} µs CPU, ${write.wall.toFixed(1)} µs wall`);
const base = reads[0].cpu;
for (const r of reads)
  console.log(
    `${r.label.padEnd(40)} ${r.cpu.toFixed(1).padStart(7)} µs CPU a batch, ${r.wall.toFixed(1).padStart(7)} µs wall; ratio to getMany ${(r.cpu / base).toFixed(2)}`,
  );
