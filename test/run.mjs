// Runs the whole suite (type check of the plugins and the tests, then vitest) and ends with the
// plain summary line CI reads: "N passed, N failed".
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';

const tsc = spawnSync('npx', ['tsc', '-p', 'plugins'], { stdio: 'inherit' });
const tscTests = tsc.status === 0 ? spawnSync('npx', ['tsc', '-p', 'tsconfig.test.json'], { stdio: 'inherit' }) : tsc;
if (tsc.status !== 0 || tscTests.status !== 0) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const report = join(tmpdir(), `modelwatch-vitest-${process.pid}.json`);
const run = spawnSync('npx', ['vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, ...process.argv.slice(2)], {
  stdio: 'inherit',
});
let passed = 0;
let failed = 0;
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed = r.numPassedTests;
  failed = r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0);
  // the failures again, short, last: a CI log is often read from its tail, where vitest's summary
  // leaves only the end of the last failure's diff
  const failures = [];
  for (const file of r.testResults ?? []) {
    for (const t of file.assertionResults ?? []) if (t.status === 'failed') failures.push([t.fullName, t.failureMessages?.[0] ?? '']);
    if (file.status === 'failed' && !(file.assertionResults ?? []).some((t) => t.status === 'failed')) failures.push([file.name, file.message ?? '']);
  }
  for (const [name, message] of failures) {
    // eslint-disable-next-line no-control-regex
    const lines = message.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
    const text = lines
      .filter((l) => !/^\s+at /.test(l))
      .slice(0, 12)
      .join('\n')
      .slice(0, 1500);
    console.log(`FAILED: ${name}\n${text}\n`);
  }
  rmSync(report, { force: true });
} catch {
  failed = Math.max(failed, 1);
}
if (run.status !== 0 && failed === 0) failed = 1;
console.log(`${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 && passed > 0 ? 0 : 1);
