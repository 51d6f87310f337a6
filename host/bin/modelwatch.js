#!/usr/bin/env -S node --no-node-snapshot
// The modelwatch CLI. isolated-vm needs --no-node-snapshot, hence the shebang flags.
import { enableCliCompileCache } from '../dist/cli/compile-cache.js';

// Node's compile cache, in a folder of the user's that nobody else can write to (cli/compile-cache.ts)
enableCliCompileCache();
// imported once the cache is on (a static import would load before it)
const { main } = await import('../dist/cli/main.js');
await main();
