import { readFileSync } from 'node:fs';

/** The version of `@modelwatch/host` (its package.json): in a module of its own, so that reading it loads nothing else. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
