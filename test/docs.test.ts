import { spawn } from 'node:child_process';
import { chmod, cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ModelwatchClient } from '../host/src/client/client.js';
import { freePort } from '../host/src/nats/server.js';
import { docBlocks, docFiles, docGroups, parseMarker, strayMarkers, type DocGroup } from './helpers/doc-blocks.js';
import { authHeaders, REPO, rng, startTestHost, TEST_TOKEN } from './helpers/host.js';
import { startTestNats } from './helpers/nats.js';
import { CLI } from './helpers/processes.js';
import { tempDir, untilWallClock, waitFor } from './helpers/tmp.js';

const FIXTURES = join(REPO, 'test/fixtures/docs');
/** Fails a curl in an example on an HTTP error (as `curl -f` would) and shows the answer. */
const PRELUDE = `curl() {
  case " $* " in *" -f "*|*" -sf "*|*" -fs "*|*" --fail "*) command curl "$@" ;; *) command curl --fail-with-body --show-error "$@" ;; esac
}
# what a block leaves running in the background (a host it started) is stopped when it ends
trap 'rc=$?; jobs=$(jobs -p); if [ -n "$jobs" ]; then kill $jobs 2>/dev/null; wait $jobs 2>/dev/null; fi; exit $rc' EXIT
set -euo pipefail
`;

interface GroupContext {
  cwd: string;
  client: ModelwatchClient;
}
interface GroupHooks {
  after?: (ctx: GroupContext, outputs: Array<{ stdout: string; stderr: string }>) => Promise<void>;
}

/** Wait until no process of the group is left; SIGKILL them after `graceMs`. */
async function stopProcessGroup(pgid: number, graceMs = 30_000): Promise<void> {
  const alive = () => {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  if (!alive()) return;
  process.kill(-pgid, 'SIGTERM');
  await waitFor('the processes of an example to stop', () => (alive() ? undefined : true), graceMs, 50).catch(async () => {
    process.kill(-pgid, 'SIGKILL');
    await waitFor('the processes of an example to die', () => (alive() ? undefined : true), 10_000, 50);
  });
}

/** Run a shell example in bash: exit 0, and no `"rejected": [{...}]` in what the host answered. */
async function bash(script: string, where: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }> {
  const child = spawn('bash', ['-c', `${PRELUDE}${script}`], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => {
      stderr += '\n(timed out after 180 s)';
      process.kill(-child.pid!, 'SIGKILL');
    }, 180_000);
    child.once('close', (c) => {
      clearTimeout(t);
      resolve(c);
    });
  });
  await stopProcessGroup(child.pid!);
  if (code !== 0) throw new Error(`${where} exited with ${code}:\n--- stdout\n${stdout}\n--- stderr\n${stderr}`);
  if (/"rejected":\s*\[\s*\{/.test(stdout)) throw new Error(`${where}: the host rejected part of what the example sent:\n${stdout}`);
  return { stdout, stderr };
}

/**
 * Run a group's blocks in order in a fresh folder: files written, shell blocks run, JSON bodies
 * posted, against a fresh test host (or the host the group starts itself). The folder holds
 * test/fixtures/docs/<group>/ (its setup.sh runs first) and links to the repository's plugins,
 * clients, Makefile, node_modules and .tools, so commands written for the repository's root work there.
 */
async function runGroup(g: DocGroup, hooks: GroupHooks = {}): Promise<void> {
  const dir = await tempDir(`mw-docs-${g.name}-`);
  const cwd = dir.path;
  let nats: Awaited<ReturnType<typeof startTestNats>> | undefined;
  let host: Awaited<ReturnType<typeof startTestHost>> | undefined;
  try {
    if (existsSync(join(FIXTURES, g.name))) await cp(join(FIXTURES, g.name), cwd, { recursive: true });
    for (const name of ['plugins', 'clients', 'Makefile', 'node_modules', '.tools']) {
      if (existsSync(join(REPO, name))) await symlink(join(REPO, name), join(cwd, name));
    }
    const bin = join(cwd, '.bin');
    await mkdir(bin);
    await writeFile(join(bin, 'modelwatch'), `#!/bin/sh\nexec "${process.execPath}" --no-node-snapshot "${CLI}" "$@"\n`);
    await chmod(join(bin, 'modelwatch'), 0o755);
    let url: string;
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MODELWATCH_')));
    if (g.ownHost) {
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      env.MODELWATCH_HTTP_PORT = String(port);
    } else {
      nats = await startTestNats();
      host = await startTestHost({ natsUrl: nats.url, basePeriod: 1000, allowedLateness: 200 });
      url = host.host.apiUrl;
      env.MODELWATCH_TOKEN = TEST_TOKEN;
    }
    Object.assign(env, { PATH: `${bin}:${process.env.PATH}`, HOME: cwd, MODELWATCH_HOST: url, DOCS_FIXTURES: FIXTURES });
    if (existsSync(join(cwd, 'setup.sh'))) await bash(await readFile(join(cwd, 'setup.sh'), 'utf8'), `test/fixtures/docs/${g.name}/setup.sh`, cwd, env);
    const outputs: Array<{ stdout: string; stderr: string }> = [];
    const address = url.replace(/^http:\/\//, '');
    for (const b of g.blocks) {
      const m = b.marker!;
      const where = `${b.file}:${b.line}`;
      if (m.kind === 'file') {
        await mkdir(dirname(join(cwd, m.path!)), { recursive: true });
        await writeFile(join(cwd, m.path!), b.text.replaceAll('localhost:7077', address));
      } else if (m.kind === 'post') {
        const res = await fetch(`${url}${m.path!}`, { method: 'POST', headers: authHeaders({ 'content-type': 'application/json' }), body: b.text });
        const text = await res.text();
        expect(res.ok, `${where}: POST ${m.path!} answered ${res.status}: ${text}`).toBe(true);
        const rejected = (JSON.parse(text || '{}') as { rejected?: unknown[] }).rejected ?? [];
        expect(rejected, `${where}: POST ${m.path!} rejected part of the example: ${text}`).toEqual([]);
      } else {
        outputs.push(await bash(b.text.replaceAll('localhost:7077', address), where, cwd, env));
      }
    }
    // a group with a host of its own: the admin token its first start wrote in HOME (the folder)
    const token = g.ownHost ? readFileSync(join(cwd, '.modelwatch', 'admin.token'), 'utf8').trim() : TEST_TOKEN;
    await hooks.after?.({ cwd, client: new ModelwatchClient({ url, token }) }, outputs);
  } finally {
    await host?.[Symbol.asyncDispose]();
    await nats?.[Symbol.asyncDispose]();
    await dir[Symbol.asyncDispose]();
  }
}

const groups = docGroups(REPO);
const FIRST_APP = 'first-app';

/** The examples of README.md and of each plugin's README, run against real hosts. */
describe('documentation examples', () => {
  it('every code block that names a language is marked: run by this test, or skipped with a reason', () => {
    const unmarked: string[] = [];
    const wrong: string[] = [];
    for (const f of docFiles(REPO)) {
      for (const b of docBlocks(REPO, f)) {
        if (!b.lang) continue;
        if (!b.marker) unmarked.push(`${f}:${b.line} (${b.lang})`);
        else if (b.marker.kind === 'skip' && !b.marker.reason) wrong.push(`${f}:${b.line}: skip needs a reason`);
        else if (b.marker.kind !== 'skip') for (const p of b.marker.problems) wrong.push(`${f}:${b.line}: ${p}`);
      }
      for (const line of strayMarkers(REPO, f)) wrong.push(`${f}:${line}: a test marker not right before a fence`);
    }
    expect(unmarked, 'put <!-- test: GROUP ... --> or <!-- test: skip REASON --> right before each (see README, Development)').toEqual([]);
    expect(wrong).toEqual([]);
    expect(groups.map((g) => g.name)).toContain(FIRST_APP);
  });

  it('reads markers as the README documents them', () => {
    expect(parseMarker('first-app file=my-app/src/index.ts', 'ts')).toEqual({
      kind: 'file',
      group: 'first-app',
      path: 'my-app/src/index.ts',
      ownHost: false,
      problems: [],
    });
    expect(parseMarker('events post=/api/v1/endpoints/iris/events', 'json')).toMatchObject({
      kind: 'post',
      path: '/api/v1/endpoints/iris/events',
      problems: [],
    });
    expect(parseMarker('quick-start own-host', 'sh')).toMatchObject({ kind: 'run', ownHost: true, problems: [] });
    expect(parseMarker('skip example output', 'json')).toEqual({ kind: 'skip', reason: 'example output' });
    expect(parseMarker('g', 'ts')).toMatchObject({ problems: ['only sh blocks run; give a ts block file=PATH or post=PATH'] });
    expect(parseMarker('g file=../x', 'ts')).toMatchObject({ problems: ["file=../x: a path inside the group's folder"] });
    expect(parseMarker('G runs', 'sh')).toHaveProperty('problems', [
      "'G' is not a group name (lower-case letters, digits, '-')",
      "unknown option 'runs' (file=PATH, post=/api/v1/..., own-host)",
    ]);
  });

  it("README's first app (Writing a monitoring app) builds, publishes with a dry run on the endpoint it serves, and produces a stored window", async () => {
    const g = groups.find((x) => x.name === FIRST_APP)!;
    expect(g.blocks.map((b) => b.marker!.kind)).toEqual(['file', 'file', 'run']);
    await runGroup(g, {
      after: async ({ client }, [publish]) => {
        expect(publish!.stdout).toMatch(/^published mean-shift@1\.0\.0 /m);
        expect(publish!.stdout).toMatch(/^dry run on endpoint 'churn': ok \(100 rows: 1 result, 1 metric, /m);
        expect(publish!.stderr).not.toContain('WARNING');
        const r = rng(5);
        const ws = Math.ceil((Date.now() + 100) / 1000) * 1000;
        await untilWallClock(ws);
        await client.sendEvents('churn', [
          ...Array.from({ length: 50 }, (_, i) => ({ when: ws + i, inputs: [[Math.round(r.normal(75, 3)), 50_000, 3]], outputs: [0] })),
          // an age of the wrong type is taken as missing (NaN): the app leaves it out of the mean
          { when: ws + 50, inputs: [['unknown', 50_000, 3]], outputs: [0] },
        ]);
        const w = await waitFor('the stored window of mean-shift', async () =>
          (await client.results({ endpoint: 'churn', app: 'mean-shift' })).find((x) => x.windowStart === ws),
        );
        expect(w).toMatchObject({ outcome: 'ok', version: '1.0.0', rows: 51, metrics: [{ name: 'age_mean', value: expect.closeTo(75, -1) }] });
        // ages around 75 against a reference around 42 (sd 11): shifted by well over two reference standard deviations
        expect(w.results).toEqual([
          expect.objectContaining({ name: 'age_shift', kind: 0, status: 2, extraData: expect.objectContaining({ referenceMean: expect.any(Number) }) }),
        ]);
      },
    });
  });

  it("README's Quick start runs as written: a host of its own, a built-in app, an endpoint from a CSV file, an event, the results", async () => {
    await runGroup(
      groups.find((x) => x.name === 'quick-start')!,
      {
        after: async (_, [quick]) => {
          expect(quick!.stdout).toMatch(/^published histogram-data-drift@1\.0\.0 .*\nno dry run: no endpoint exists yet$/m);
          expect(quick!.stdout).toMatch(/^endpoint churn .*3 features, reference statistics set/m);
          expect(quick!.stdout).toContain('{"accepted":1,"rejected":[]}');
        },
      },
    );
  });

  it("README's built-in apps: listed, the default app deployed once, not again after its removal, another one, none, one by name", async () => {
    await runGroup(
      groups.find((x) => x.name === 'builtin-apps')!,
      {
        after: async ({ client }, [out]) => {
          expect(out!.stdout).toMatch(/│ drift\s+│ 1\.0\.0\s+│/);
          const said = out!.stdout.split('\n').filter((l) => l.startsWith('default app: ') || l.startsWith('published '));
          expect(said).toEqual([
            'default app: deployed drift@1.0.0',
            'default app: drift is already published (drift@1.0.0, active); left as it is',
            'default app: skipped drift: it was removed by a user (plugin publish builtin:drift publishes it again)',
            'default app: deployed histogram-data-drift@1.0.0',
            'default app: none',
            expect.stringMatching(/^published drift@1\.0\.0 /),
          ]);
          expect((await client.listPlugins()).map((p) => p.name)).toEqual(['drift', 'histogram-data-drift']);
        },
      },
    );
  });

  it("README's value of the wrong type is accepted, made missing and counted", async () => {
    await runGroup(
      groups.find((x) => x.name === 'wrong-type')!,
      {
        after: async (_, [post]) => {
          expect(JSON.parse(post!.stdout)).toEqual({ accepted: 1, rejected: [], wrongType: { age: 1 } });
        },
      },
    );
  });

  it("the Python examples (README's and clients/python/README.md's) send their requests to the host, each counted once", async () => {
    await runGroup(
      groups.find((x) => x.name === 'python')!,
      {
        after: async ({ client }) => {
          const s = await waitFor('the request of the README counted', async () => {
            const st = await client.endpointStats('churn');
            return st.requests >= 1 ? st : undefined;
          });
          expect(s).toMatchObject({ requests: 1, errors: 0, latencyCount: 1 });
        },
      },
    );
    await runGroup(
      groups.find((x) => x.name === 'python-client')!,
      {
        after: async ({ client }, [run]) => {
          expect(run!.stdout).toMatch(/^TrackerStats\(tracked=4, sampled_rows=3, delivered=4, batches=\d+, dropped=0, rejected=0, buffered=0, failures=0\)$/m);
          const s = await waitFor('the requests of clients/python/README.md counted', async () => {
            const st = await client.endpointStats('churn');
            return st.requests >= 4 ? st : undefined;
          });
          expect(s).toMatchObject({ requests: 4, errors: 1, predictions: 3 });
        },
      },
    );
  });

  it.each(groups.filter((g) => ![FIRST_APP, 'quick-start', 'wrong-type', 'builtin-apps', 'python', 'python-client'].includes(g.name)))(
    'the examples of group $name run (blocks at $blocks.0.file)',
    async (g) => {
      await runGroup(g);
    },
  );
});
