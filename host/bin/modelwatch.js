#!/usr/bin/env -S node --no-node-snapshot
// The modelwatch CLI. isolated-vm needs --no-node-snapshot, hence the shebang flags.
import { main } from '../dist/cli/main.js';

await main();
