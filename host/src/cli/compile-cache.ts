import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { constants, enableCompileCache } from 'node:module';
import { userInfo } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';

/**
 * Node's compile cache for the CLI: V8's compiled code of its modules, kept between runs in the
 * user's cache folder (a command starts in a fifth less time). V8 trusts what it reads there, so
 * an entry another user planted would run as the CLI's own code: the folder is used only when
 * nobody else can write to it, or replace it. Anything else turns the cache off, never the CLI.
 * @module
 */

/** What the folder is checked against: whose it must be, and where the home folder is. */
export interface CompileCacheOwner {
  /** The effective user id (`process.geteuid()`); undefined (Windows): no cache. */
  euid?: number | undefined;
  /** The home folder when `HOME` is unset or not absolute (`os.userInfo().homedir`; throws for a user without a passwd entry). */
  homedir?: () => string;
}

/**
 * The CLI's compile-cache folder (its real path), made (mode 0700) and checked, or undefined when
 * it may not be used: `$XDG_CACHE_HOME/modelwatch/compile-cache` (an absolute XDG_CACHE_HOME only, as the XDG
 * spec says), else `$HOME/.cache/...` (HOME absolute, else the passwd entry's home). Its own two
 * folders must be real folders (no links) of the user, written by nobody else; every folder above
 * must be the user's or root's, and written by nobody else unless sticky (as /tmp: nobody can
 * rename what is ours). A group-writable home folder turns the cache off.
 * @throws when the folder cannot be made or read (the caller turns the cache off)
 */
export function compileCacheDir(env: NodeJS.ProcessEnv = process.env, owner: CompileCacheOwner = {}): string | undefined {
  const euid = 'euid' in owner ? owner.euid : process.geteuid?.();
  if (euid === undefined) return undefined;
  const xdg = env.XDG_CACHE_HOME;
  let base: string;
  if (xdg && isAbsolute(xdg)) base = xdg;
  else {
    const home = env.HOME && isAbsolute(env.HOME) ? env.HOME : (owner.homedir ?? (() => userInfo().homedir))();
    if (!isAbsolute(home)) return undefined;
    base = join(home, '.cache');
  }
  const dir = join(base, 'modelwatch', 'compile-cache');
  // a folder at a time: a recursive mkdir spins forever where mkdir(2) says ENOENT under a folder
  // that exists (/proc); any error but EEXIST turns the cache off
  for (const d of [base, dirname(dir), dir]) {
    try {
      mkdirSync(d, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  // our two folders are no links
  for (const d of [dir, dirname(dir)]) if (!lstatSync(d).isDirectory()) return undefined;
  // and every check is made on the path that is used, from it up to /: once each of its folders is
  // the user's or root's and written by nobody else (a sticky one aside), nobody can swap one (a
  // link on the way may have changed between the checks above and realpath)
  const real = realpathSync(dir);
  for (let d = real, ours = 2; ; d = dirname(d), ours--) {
    const s = lstatSync(d);
    const othersWrite = (s.mode & 0o022) !== 0;
    const mine = s.uid === euid && !othersWrite;
    const safe = (s.uid === euid || s.uid === 0) && (!othersWrite || (s.mode & 0o1000) !== 0);
    if (!s.isDirectory() || !(ours > 0 ? mine : safe)) return undefined;
    if (dirname(d) === d) break;
  }
  return real;
}

/**
 * Turn on Node's compile cache for this process in {@link compileCacheDir}, and set
 * NODE_COMPILE_CACHE to it for the processes it starts (the host's app runners). Nothing is done
 * when NODE_COMPILE_CACHE (Node has used it from the start) or NODE_DISABLE_COMPILE_CACHE is set.
 * @returns the folder, or undefined when the cache stays off (whatever went wrong: never an error)
 */
export function enableCliCompileCache(env: NodeJS.ProcessEnv = process.env, owner: CompileCacheOwner = {}): string | undefined {
  if (env.NODE_COMPILE_CACHE || env.NODE_DISABLE_COMPILE_CACHE) return undefined;
  try {
    const dir = compileCacheDir(env, owner);
    if (dir === undefined || enableCompileCache(dir).status !== constants.compileCacheStatus.ENABLED) return undefined;
    env.NODE_COMPILE_CACHE = dir;
    return dir;
  } catch {
    return undefined;
  }
}
