// How long a CLI command takes to start: wall time from spawning `modelwatch` to its exit, for
// `--help`, and for a command of the host API that fails at once (`endpoint list` against a port
// where nothing listens: the client and its checks load, no request is answered), with Node's
// compile cache warm and with it off (NODE_DISABLE_COMPILE_CACHE=1), against a bare Node that does
// nothing (`node --no-node-snapshot -e 0`) in the same run, interleaved.
//
//   node --no-node-snapshot bench/cli-start.mjs [--runs 15] [--cli PATH]
//
// --cli: another checkout's `host/bin/modelwatch.js` (e.g. a git worktree of an older commit), to
// hold this one against. Prints the median and the range of each, and its ratio to bare Node.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFlags } from './lib/flags.mjs';
import { loadAverage } from './lib/setup.mjs';

const flags = parseFlags('node --no-node-snapshot bench/cli-start.mjs [--runs 15] [--cli PATH]', {
  runs: { type: 'number', default: 15, describe: 'runs of each case (interleaved)' },
  cli: {
    type: 'string',
    default: new URL('../host/bin/modelwatch.js', import.meta.url).pathname,
    describe: "the CLI to start (another checkout's host/bin/modelwatch.js)",
  },
});

const cache = mkdtempSync(join(tmpdir(), 'mw-bench-cli-'));
const env = (extra) => {
  const e = { ...process.env, XDG_CACHE_HOME: cache, ...extra };
  delete e.NODE_COMPILE_CACHE;
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete e[k];
  return e;
};
const node = (args, extra = {}) => ({ args: ['--no-node-snapshot', ...args], env: env(extra) });
const NO_HOST = ['--host', 'http://127.0.0.1:1', '--token', 'mw_bench'];
const cases = [
  ['bare Node (-e 0)', node(['-e', '0'])],
  ['--help, cache warm', node([flags.cli, '--help'])],
  ['--help, cache off', node([flags.cli, '--help'], { NODE_DISABLE_COMPILE_CACHE: '1' })],
  ['endpoint list, cache warm', node([flags.cli, 'endpoint', 'list', ...NO_HOST])],
  ['endpoint list, cache off', node([flags.cli, 'endpoint', 'list', ...NO_HOST], { NODE_DISABLE_COMPILE_CACHE: '1' })],
];

function time({ args, env: e }) {
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env: e, stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.error) throw r.error;
  return Number(process.hrtime.bigint() - t) / 1e6;
}

// one run of each to warm the cache (and the disk's), not counted
for (const [, c] of cases) time(c);
const ms = cases.map(() => []);
for (let i = 0; i < flags.runs; i++) cases.forEach(([, c], k) => ms[k].push(time(c)));
rmSync(cache, { recursive: true, force: true });

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const bare = median(ms[0]);
console.log(`CLI start (${flags.cli}), ${flags.runs} runs each, load average ${loadAverage()}`);
cases.forEach(([name], k) => {
  const m = median(ms[k]);
  console.log(
    `  ${name.padEnd(28)} ${m.toFixed(0).padStart(5)} ms median (${Math.min(...ms[k]).toFixed(0)} to ${Math.max(...ms[k]).toFixed(0)})  ${(m / bare).toFixed(2)}x bare Node`,
  );
});
