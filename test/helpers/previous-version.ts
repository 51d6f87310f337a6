import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO } from './host.js';

const run = promisify(execFile);

/** The commit a rolling upgrade starts from: the "previous version" of `test/cluster.test.ts`. */
export const UPGRADE_BASE_FILE = join(REPO, 'test/fixtures/upgrade-base/commit');

/** A built checkout of an earlier commit, to start hosts from (`hostProcess(args, env, { cli })`). */
export interface PreviousVersion {
  /** The full commit id. */
  commit: string;
  /** The checkout: a detached git worktree of `commit`. */
  dir: string;
  /** Its CLI (`host/bin/modelwatch.js`). */
  cli: string;
  /** False when an earlier run had built it already. */
  built: boolean;
  /** How long the worktree, its dependencies and its build took (0 when cached). */
  buildMs: number;
  /** 'linked' (this checkout's node_modules, same lockfile) or 'installed' (npm ci), when built. */
  deps?: 'linked' | 'installed';
}

const MARKER = '.modelwatch-previous-built';
const LINKED_FROM = '.modelwatch-linked-from';

async function git(...args: string[]): Promise<string> {
  return (await run('git', args, { cwd: REPO, maxBuffer: 16 << 20 })).stdout.trim();
}

/** The commit named by `test/fixtures/upgrade-base/commit`, resolved in this clone; a clear error if it is not there. */
export async function upgradeBaseCommit(file = UPGRADE_BASE_FILE): Promise<string> {
  const named = (await readFile(file, 'utf8')).trim();
  if (!/^[0-9a-f]{7,40}$/.test(named)) throw new Error(`${file} must hold a commit id (7 to 40 hex digits), not ${JSON.stringify(named.slice(0, 80))}`);
  try {
    return await git('rev-parse', '--verify', '--quiet', `${named}^{commit}`);
  } catch {
    const shallow = await git('rev-parse', '--is-shallow-repository').catch(() => 'unknown');
    throw new Error(
      `the upgrade test's base commit ${named} (${file}) is not in this clone (${REPO}, shallow: ${shallow}): ` +
        'the rolling upgrade builds the previous version from it. Fetch the full history (git fetch --unshallow), ' +
        'or point the file at a commit this clone has',
    );
  }
}

/**
 * The previous version, built once per commit and repository in the temp folder and reused by
 * later runs: `git worktree add --detach` of the commit, its dependencies (this checkout's
 * node_modules linked when the lockfiles are identical, else `npm ci --prefer-offline`), then its
 * `npm run build` (`tsc -b`, the UI: what `make build` does).
 */
export async function previousVersion(commit?: string): Promise<PreviousVersion> {
  const sha = commit ?? (await upgradeBaseCommit());
  const common = await git('rev-parse', '--path-format=absolute', '--git-common-dir');
  const repoKey = createHash('sha256').update(common).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), 'modelwatch-previous', `${repoKey}-${sha}`);
  const cli = join(dir, 'host/bin/modelwatch.js');

  if (existsSync(join(dir, MARKER)) && (await readFile(join(dir, MARKER), 'utf8')).trim() === sha && existsSync(cli)) {
    await ensureDeps(dir);
    return { commit: sha, dir, cli, built: false, buildMs: 0 };
  }

  const started = Date.now();
  // a half-built one (an interrupted run) goes; so does git's record of one whose folder was deleted
  await git('worktree', 'remove', '--force', dir).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
  await git('worktree', 'prune');
  await mkdir(join(dir, '..'), { recursive: true });
  await git('worktree', 'add', '--detach', '--force', dir, sha);
  const deps = await ensureDeps(dir);
  try {
    await run('npm', ['run', '--silent', 'build'], { cwd: dir, maxBuffer: 64 << 20 });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`building the previous version ${sha} in ${dir} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`.slice(0, 8000), {
      cause: err,
    });
  }
  if (!existsSync(cli)) throw new Error(`the previous version ${sha} built, but has no CLI at ${cli}`);
  await writeFile(join(dir, MARKER), `${sha}\n`);
  return { commit: sha, dir, cli, built: true, buildMs: Date.now() - started, deps };
}

/**
 * The checkout's node_modules: links to this checkout's packages when both lockfiles are the
 * same (the workspace packages, `@modelwatch/*`, link to the checkout's own folders), else a
 * clean `npm ci`. Links made from a checkout that has gone are made again.
 */
async function ensureDeps(dir: string): Promise<'linked' | 'installed'> {
  const ours = join(REPO, 'node_modules');
  const theirs = join(dir, 'node_modules');
  const same = (await readFile(join(REPO, 'package-lock.json'), 'utf8')) === (await readFile(join(dir, 'package-lock.json'), 'utf8'));
  const linkedFrom = await readFile(join(theirs, LINKED_FROM), 'utf8').catch(() => undefined);
  if (same && existsSync(ours)) {
    if (linkedFrom === ours && existsSync(join(theirs, 'typescript/package.json'))) return 'linked';
    // fs.rm does not follow links: only the links go
    await rm(theirs, { recursive: true, force: true });
    await mkdir(theirs);
    for (const name of await readdir(ours)) {
      if (name === '@modelwatch') {
        // npm's workspace links are relative (../../host): the same links point at the checkout's own packages
        await mkdir(join(theirs, name));
        for (const pkg of await readdir(join(ours, name))) await symlink(await readlink(join(ours, name, pkg)), join(theirs, name, pkg));
      } else {
        await symlink(join(ours, name), join(theirs, name));
      }
    }
    await writeFile(join(theirs, LINKED_FROM), ours);
    return 'linked';
  }
  if (linkedFrom === undefined && existsSync(join(theirs, '.package-lock.json'))) return 'installed';
  await rm(theirs, { recursive: true, force: true });
  try {
    await run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir, maxBuffer: 64 << 20 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`npm ci in the previous version's checkout ${dir} failed: ${e.message}\n${e.stderr ?? ''}`.slice(0, 8000), { cause: err });
  }
  return 'installed';
}
