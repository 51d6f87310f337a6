import { chmodSync, mkdirSync, mkdtempSync, realpathSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileCacheDir, enableCliCompileCache } from '../src/cli/compile-cache.js';

/**
 * Where the CLI keeps Node's compile cache, and when it may not: V8 runs what it finds there, so
 * a folder another user can write to, or replace, is never used (the CLI runs on without a cache).
 */

const root = mkdtempSync(join(tmpdir(), 'mw-compile-cache-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
/** A new folder of ours (mode 0755), under the temp folder (root's, sticky). */
function folder(): string {
  const d = join(root, `f${n++}`);
  mkdirSync(d, { mode: 0o755 });
  chmodSync(d, 0o755);
  return d;
}
const me = process.geteuid!();

describe('the compile-cache folder', () => {
  it('is $XDG_CACHE_HOME/modelwatch/compile-cache, made for its user alone', () => {
    const xdg = folder();
    const dir = compileCacheDir({ XDG_CACHE_HOME: xdg, HOME: '/nowhere' });
    expect(dir).toBe(join(xdg, 'modelwatch', 'compile-cache'));
    expect(statSync(dir!).mode & 0o777).toBe(0o700);
  });

  it('is $HOME/.cache/... when XDG_CACHE_HOME is unset or relative, and the passwd home when HOME is empty or relative', () => {
    const home = folder();
    expect(compileCacheDir({ HOME: home })).toBe(join(home, '.cache', 'modelwatch', 'compile-cache'));
    expect(compileCacheDir({ HOME: home, XDG_CACHE_HOME: 'relative' })).toBe(join(home, '.cache', 'modelwatch', 'compile-cache'));
    const passwd = folder();
    for (const HOME of ['', 'relative', undefined]) {
      expect(compileCacheDir({ HOME, XDG_CACHE_HOME: 'x' }, { euid: me, homedir: () => passwd })).toBe(join(passwd, '.cache', 'modelwatch', 'compile-cache'));
    }
    expect(compileCacheDir({ HOME: '' }, { euid: me, homedir: () => 'relative' })).toBeUndefined();
  });

  it('is not used when its folders are writable by others, a link, or not the user’s', () => {
    const open = folder();
    mkdirSync(join(open, 'modelwatch', 'compile-cache'), { recursive: true });
    chmodSync(join(open, 'modelwatch'), 0o777);
    expect(compileCacheDir({ XDG_CACHE_HOME: open })).toBeUndefined();

    const groupWritable = folder();
    mkdirSync(join(groupWritable, 'modelwatch', 'compile-cache'), { recursive: true });
    chmodSync(join(groupWritable, 'modelwatch', 'compile-cache'), 0o770);
    expect(compileCacheDir({ XDG_CACHE_HOME: groupWritable })).toBeUndefined();

    const linked = folder();
    const elsewhere = folder();
    mkdirSync(join(elsewhere, 'compile-cache'), { mode: 0o700 });
    symlinkSync(elsewhere, join(linked, 'modelwatch'));
    expect(compileCacheDir({ XDG_CACHE_HOME: linked })).toBeUndefined();

    // folders of another user: the same folder, checked for a user id that is not its owner's
    expect(compileCacheDir({ XDG_CACHE_HOME: folder() }, { euid: me + 1 })).toBeUndefined();
    // no user ids (Windows): no cache
    expect(compileCacheDir({ XDG_CACHE_HOME: folder() }, { euid: undefined })).toBeUndefined();
  });

  it('is not used under a folder others can write to, unless it is sticky (as /tmp)', () => {
    const shared = folder();
    chmodSync(shared, 0o777);
    expect(compileCacheDir({ XDG_CACHE_HOME: join(shared, 'cache') })).toBeUndefined();
    chmodSync(shared, 0o1777);
    expect(compileCacheDir({ XDG_CACHE_HOME: join(shared, 'cache2') })).toBe(join(shared, 'cache2', 'modelwatch', 'compile-cache'));
    // through a link to such a folder: the real path's folders are checked
    const open = folder();
    chmodSync(open, 0o777);
    mkdirSync(join(open, 'c'));
    const link = join(folder(), 'link');
    symlinkSync(join(open, 'c'), link);
    expect(compileCacheDir({ XDG_CACHE_HOME: link })).toBeUndefined();
  });
});

describe('the compile-cache folder, against a hostile local user', () => {
  it('is never one a link swapped during the checks points to: every check is made on the path used', async () => {
    // another user's link in a shared folder, flipped between a safe cache and one others can write
    const shared = folder();
    const good = join(shared, 'good');
    const bad = join(shared, 'bad');
    for (const d of [good, bad]) mkdirSync(join(d, 'modelwatch', 'compile-cache'), { recursive: true, mode: 0o700 });
    chmodSync(join(bad, 'modelwatch'), 0o777);
    chmodSync(join(bad, 'modelwatch', 'compile-cache'), 0o777);
    const link = join(shared, 'cache');
    symlinkSync(good, link);
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const flipper = new Worker(
      `const { symlinkSync, renameSync } = require('node:fs');
       const { workerData: { link, targets, stop } } = require('node:worker_threads');
       for (let i = 0; Atomics.load(stop, 0) === 0; i++) { symlinkSync(targets[i % 2], link + '.new'); renameSync(link + '.new', link); }`,
      { eval: true, workerData: { link, targets: [good, bad], stop } },
    );
    const used = new Set<string | undefined>();
    try {
      for (let i = 0; i < 3000; i++) used.add(compileCacheDir({ XDG_CACHE_HOME: link }));
    } finally {
      Atomics.store(stop, 0, 1);
      await new Promise((resolve) => flipper.once('exit', resolve));
    }
    expect([...used].filter((d) => d !== undefined && !d.startsWith(good))).toEqual([]);
    // and the safe one is used when the link stays on it
    symlinkSync(good, `${link}.last`);
    renameSync(`${link}.last`, link);
    expect(compileCacheDir({ XDG_CACHE_HOME: link })).toBe(join(realpathSync(good), 'modelwatch', 'compile-cache'));
  });

  it('does not hang where mkdir says ENOENT under a folder that exists (/proc): the cache is off at once', () => {
    for (const XDG_CACHE_HOME of ['/proc', '/proc/x', '/proc/self']) {
      expect(enableCliCompileCache({ XDG_CACHE_HOME, HOME: '/proc' })).toBeUndefined();
    }
    expect(enableCliCompileCache({ HOME: '/proc' })).toBeUndefined();
  });
});

describe('enableCliCompileCache', () => {
  it('leaves the cache to Node when NODE_COMPILE_CACHE or NODE_DISABLE_COMPILE_CACHE is set, making no folder', () => {
    const xdg = folder();
    expect(enableCliCompileCache({ XDG_CACHE_HOME: xdg, NODE_COMPILE_CACHE: join(xdg, 'chosen') })).toBeUndefined();
    expect(enableCliCompileCache({ XDG_CACHE_HOME: xdg, NODE_DISABLE_COMPILE_CACHE: '1' })).toBeUndefined();
    expect(() => statSync(join(xdg, 'modelwatch'))).toThrow(/ENOENT/);
  });

  it('turns the cache off, never the CLI, when the home folder cannot be found or the folder cannot be made', () => {
    const env = { HOME: '' };
    expect(
      enableCliCompileCache(env, {
        euid: me,
        homedir: () => {
          throw new Error('ENOENT: no passwd entry');
        },
      }),
    ).toBeUndefined();
    expect(env).toEqual({ HOME: '' });
    // a file where a folder goes
    expect(enableCliCompileCache({ XDG_CACHE_HOME: join(import.meta.filename, 'x') })).toBeUndefined();
  });
});
