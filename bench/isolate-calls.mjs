// What a call between the host and an isolate costs (isolated-vm): the CPU of the whole process
// (every thread) a call of a function in the isolate, with 0, 1, 2 and 5 synchronous calls back to
// the host inside it (as `ctx.sampleStats` and `ctx.featureStats` were before the sandbox passed
// them with the window's call), and the same with the two statistics given as string arguments
// of the call instead (what the sandbox does for a version whose app read them once).
//
//   node --no-node-snapshot bench/isolate-calls.mjs
//
// Prints µs of CPU and of wall time a call, and each case's ratio to the call without call-backs.
import ivm from 'isolated-vm';
import { parseFlags } from './lib/flags.mjs';

// no flags: --help prints what it measures, an unknown flag is refused
parseFlags('node --no-node-snapshot bench/isolate-calls.mjs', {});

const N = 3000;
const isolate = new ivm.Isolate({ memoryLimit: 64 });
const context = await isolate.createContext();
// statistics of 5 features, about what histogram-data-drift reads a window
const stats = JSON.stringify(
  Object.fromEntries(
    ['a', 'b', 'c', 'd', 'e'].map((f) => [
      f,
      { type: 'numeric', mean: 0.5, hist: [Array.from({ length: 20 }, (_, i) => i), Array.from({ length: 21 }, (_, i) => i / 20)] },
    ]),
  ),
);
await context.global.set('stats', new ivm.Callback(() => stats));
const callingBack = await context.eval('(n) => { let k = 0; for (let i = 0; i < n; i++) k += JSON.parse(stats()).a.mean; return k; }', { reference: true });
const given = await context.eval('(a, b) => JSON.parse(a).a.mean + JSON.parse(b).a.mean', { reference: true });

async function measure(label, call) {
  for (let i = 0; i < 200; i++) await call(); // warm
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < N; i++) await call();
  const cpu = process.cpuUsage(cpu0);
  return { label, cpu: (cpu.user + cpu.system) / N, wall: ((performance.now() - t0) * 1000) / N };
}

const rows = [];
for (const k of [0, 1, 2, 5]) rows.push(await measure(`a call with ${k} call-back(s) for statistics`, () => callingBack.apply(undefined, [k])));
rows.push(await measure('a call given both statistics as arguments', () => given.apply(undefined, [stats, stats])));
isolate.dispose();

const base = rows[0].cpu;
for (const r of rows)
  console.log(
    `${r.label.padEnd(46)} ${r.cpu.toFixed(1).padStart(7)} µs CPU ${r.wall.toFixed(1).padStart(7)} µs wall; ratio to none ${(r.cpu / base).toFixed(2)}`,
  );
