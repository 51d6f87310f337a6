import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * What a CLI command loads before it runs: the host (NATS, LevelDB, Fastify, isolated-vm, esbuild,
 * the InfluxDB client, pino) only for the commands that start one, so a command that talks to a
 * host starts in a third of a second, not two thirds (`bench/cli-start.mjs` measures it); and
 * where Node keeps the CLI's compiled code between runs (its checks: compile-cache.test.ts).
 */

const CLI = new URL('../bin/modelwatch.js', import.meta.url).pathname;
const RECORDER = new URL('./fixtures/record-imports.mjs', import.meta.url).pathname;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A temp folder, removed after the tests. */
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mw-cli-start-'));
  dirs.push(d);
  return d;
}

/** Run the CLI with `args` under Node as its shebang runs it; its exit status, output and the modules it loaded. */
function run(args: string[], env: Record<string, string | undefined> = {}, cwd?: string) {
  const record = join(tempDir(), 'loaded.txt');
  const base: Record<string, string | undefined> = {
    ...process.env,
    NODE_COMPILE_CACHE: undefined,
    NODE_DISABLE_COMPILE_CACHE: undefined,
    XDG_CACHE_HOME: tempDir(),
    MW_RECORD_IMPORTS: record,
  };
  const r = spawnSync(process.execPath, ['--no-node-snapshot', '--import', RECORDER, CLI, ...args], {
    encoding: 'utf8',
    env: Object.fromEntries(Object.entries({ ...base, ...env }).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv,
    timeout: 60_000,
    ...(cwd !== undefined && { cwd }),
  });
  const loaded = readFileSync(record, 'utf8').split('\n').filter(Boolean);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, loaded };
}

/** What only a host needs: none of it may load for a command that does not start one. */
const HOST_ONLY = [
  /\/host\/dist\/host\.js$/,
  /\/node_modules\/isolated-vm\//,
  /\/node_modules\/esbuild\//,
  /\/node_modules\/fastify\//,
  /\/node_modules\/level\//,
  /\/node_modules\/@influxdata\//,
];
const hostModules = (loaded: string[]) => loaded.filter((u) => HOST_ONLY.some((re) => re.test(u)));

describe('the CLI starts without the host', () => {
  it('--help, a command of the host API and a failing one load none of the host', () => {
    const help = run(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('modelwatch <command>');
    expect(help.loaded.some((u) => u.endsWith('/host/dist/cli/main.js'))).toBe(true);
    expect(hostModules(help.loaded)).toEqual([]);

    // a command that asks a host (none listens on port 1): the client, its checks, no host
    const list = run(['endpoint', 'list', '--host', 'http://127.0.0.1:1', '--token', 'mw_x']);
    expect(list.status).not.toBe(0);
    expect(list.stderr).toMatch(/127\.0\.0\.1:1/);
    expect(list.loaded.some((u) => u.endsWith('/host/dist/client/client.js'))).toBe(true);
    expect(hostModules(list.loaded)).toEqual([]);

    const bad = run(['results', 'latest', '--endpoint', 'bad name!', '--host', 'http://127.0.0.1:1']);
    expect(bad.status).not.toBe(0);
    expect(hostModules(bad.loaded)).toEqual([]);
  });

  it('host start loads the host (a bad flag stops it before anything starts)', () => {
    const r = run(['host', 'start', '--base-period', 'soon', '--data-dir', tempDir()]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/base period: 'soon' is not a duration/);
    expect(r.loaded.some((u) => u.endsWith('/host/dist/host.js'))).toBe(true);
  });
});

describe("the CLI's compile cache", () => {
  it("is kept in the user's cache folder (XDG_CACHE_HOME), or where NODE_COMPILE_CACHE says, and is off with NODE_DISABLE_COMPILE_CACHE=1", () => {
    const xdg = tempDir();
    expect(run(['--version'], { XDG_CACHE_HOME: xdg }).status).toBe(0);
    expect(readdirSync(join(xdg, 'modelwatch', 'compile-cache')).length).toBeGreaterThan(0);

    const chosen = tempDir();
    const other = tempDir();
    expect(run(['--version'], { XDG_CACHE_HOME: other, NODE_COMPILE_CACHE: chosen }).status).toBe(0);
    expect(readdirSync(chosen).length).toBeGreaterThan(0);
    expect(readdirSync(other)).toEqual([]);

    const off = tempDir();
    expect(run(['--version'], { XDG_CACHE_HOME: off, NODE_DISABLE_COMPILE_CACHE: '1' }).status).toBe(0);
    expect(readdirSync(off)).toEqual([]);
  });

  it('is never made in the working folder: a relative XDG_CACHE_HOME is passed over, an empty HOME is not taken for one', () => {
    const cwd = tempDir();
    expect(run(['--version'], { XDG_CACHE_HOME: 'rel', HOME: '' }, cwd).status).toBe(0);
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('a cache folder that cannot be made does not stop the CLI', () => {
    // a file where the folder would go
    const r = run(['--version'], { XDG_CACHE_HOME: CLI });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});
