// Before/after: runs one bench script alternately in a checkout of a base commit and in this
// checkout, N times each, and prints for every figure the bench prints its median in both and the
// ratio this / base. Alternating in the same run makes both sides share the machine's load, so
// the ratio holds where the absolute figures drift.
//   node bench/ab.mjs --base 34bab28 [--runs 5] [--match REGEX] -- bench/sandbox-overhead.mjs [args]
// The base checkout is a git worktree in .tools/ab/<commit> (git-ignored), built once (npm ci, tsc -b).
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';

const argv = yargs(hideBin(process.argv))
  .usage('node bench/ab.mjs --base REV [--runs N] [--match REGEX] -- BENCH [ARGS...]')
  .option('base', { type: 'string', demandOption: true, describe: 'the commit to compare with' })
  .option('runs', { type: 'number', default: 5, describe: 'runs on each side, alternating' })
  .option('match', { type: 'string', describe: 'only the lines of the bench output that match' })
  .option('base-script', { type: 'boolean', default: false, describe: "run the base's own version of the bench (default: this checkout's, copied there)" })
  .strict()
  .parseSync();
const [bench, ...benchArgs] = argv._.map(String);
if (!bench) throw new Error('name the bench script after --, e.g. -- bench/sandbox-overhead.mjs');

const here = resolve(new URL('..', import.meta.url).pathname);
const git = (...args) => execFileSync('git', args, { cwd: here, encoding: 'utf8' }).trim();
const commit = git('rev-parse', '--verify', `${argv.base}^{commit}`);
const base = join(here, '.tools', 'ab', commit.slice(0, 12));
if (!existsSync(join(base, 'host', 'dist'))) {
  if (!existsSync(base)) {
    mkdirSync(join(here, '.tools', 'ab'), { recursive: true });
    git('worktree', 'add', '--detach', base, commit);
  }
  console.error(`building ${commit.slice(0, 12)} in ${base} (once)`);
  for (const [cmd, ...args] of [
    ['npm', 'ci', '--no-audit', '--no-fund', '--silent'],
    ['npx', 'tsc', '-b'],
  ]) {
    const r = spawnSync(cmd, args, { cwd: base, stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed in ${base}`);
  }
  if (!existsSync(join(base, '.tools'))) symlinkSync(join(here, '.tools'), join(base, '.tools'));
}

// the same bench on both sides: this checkout's script, copied next to the base's (its imports are
// relative), with this checkout's bench/lib over the base's (bench code only: the script may use
// a helper the base lacks; the product code measured stays the base's own build)
const script = { head: bench, base: bench };
if (!argv.baseScript) {
  script.base = join('bench', `.ab-${bench.split('/').pop()}`);
  copyFileSync(join(here, bench), join(base, script.base));
  for (const f of readdirSync(join(here, 'bench', 'lib'), { withFileTypes: true })) {
    if (f.isFile()) copyFileSync(join(here, 'bench', 'lib', f.name), join(base, 'bench', 'lib', f.name));
  }
} else {
  // the base's own bench with the base's own lib (an earlier run may have copied this checkout's over it)
  execFileSync('git', ['-C', base, 'checkout', '--', 'bench/lib'], { stdio: 'inherit' });
  execFileSync('git', ['-C', base, 'clean', '-fq', '--', 'bench/lib'], { stdio: 'inherit' });
}

/** A line's figures, keyed by the line with its numbers taken out. */
const figures = (out) => {
  const lines = new Map();
  for (const line of out.split('\n')) {
    if (argv.match && !new RegExp(argv.match).test(line)) continue;
    const nums = line.match(/-?\d+(?:\.\d+)?/g);
    if (!nums) continue;
    lines.set(
      line
        .replace(/-?\d+(?:\.\d+)?/g, '#')
        .replace(/\s+/g, ' ')
        .trim(),
      nums.map(Number),
    );
  }
  return lines;
};
const runIn = (side) => {
  const dir = side === 'base' ? base : here;
  const r = spawnSync(process.execPath, ['--no-node-snapshot', script[side], ...benchArgs], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${bench} failed in ${dir}:\n${r.stderr}`);
  return figures(r.stdout);
};

const samples = { base: [], head: [] };
for (let i = 0; i < argv.runs; i++) {
  // alternate which side goes first, so neither always runs on a warmer machine
  const order = i % 2 === 0 ? ['base', 'head'] : ['head', 'base'];
  for (const side of order) samples[side].push(runIn(side));
  console.error(`run ${i + 1}/${argv.runs} done`);
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(`${bench}: median of ${argv.runs} alternating runs; base ${commit.slice(0, 12)}, head ${git('rev-parse', '--short=12', 'HEAD')}`);
console.log('(each line: the figures of base -> head, and head / base for the first figure)');
for (const key of samples.head[0].keys()) {
  const col = (side, j) => median(samples[side].map((m) => m.get(key)?.[j]).filter((v) => v !== undefined));
  const n = samples.head[0].get(key).length;
  if (!samples.base[0].has(key)) {
    console.log(`  ${key}   (head only)`);
    continue;
  }
  const pairs = Array.from({ length: n }, (_, j) => `${col('base', j)} -> ${col('head', j)}`);
  const ratio = col('head', 0) / col('base', 0);
  console.log(`  ${key}\n      ${pairs.join(', ')}   ratio ${Number.isFinite(ratio) ? ratio.toFixed(3) : 'n/a'}`);
}
