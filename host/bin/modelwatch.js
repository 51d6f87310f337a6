#!/usr/bin/env -S node --no-node-snapshot
// The modelwatch CLI. isolated-vm needs --no-node-snapshot, hence the shebang flags.
import { enableCompileCache, constants } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

// V8's compiled code of the CLI's modules is kept between runs (Node's compile cache): a command
// starts in about a fifth less time. It is kept in the user's own cache folder, never in a temp
// folder another local user could write to. NODE_COMPILE_CACHE=DIR keeps it elsewhere and
// NODE_DISABLE_COMPILE_CACHE=1 turns it off, as for any Node program. Set in the environment, it
// serves the processes the host starts too (its app runners).
if (!process.env.NODE_COMPILE_CACHE) {
  const dir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'modelwatch', 'compile-cache');
  if (enableCompileCache(dir).status === constants.compileCacheStatus.ENABLED) process.env.NODE_COMPILE_CACHE = dir;
}

// imported once the cache is on (a static import would load before it)
const { main } = await import('../dist/cli/main.js');
await main();
