import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ModelwatchClient } from '../client/client.js';
import { ADMIN_TOKEN_FILE } from '../store/tokens.js';
import type { GlobalArgs } from './args.js';

/** The data folder the CLI reads `admin.token` from: `--data-dir`, `MODELWATCH_DATA_DIR`, else the host's default `~/.modelwatch`. */
export function cliDataDir(args: Pick<GlobalArgs, 'data-dir'>, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(args['data-dir'] ?? (env.MODELWATCH_DATA_DIR || join(homedir(), '.modelwatch')));
}

/** The token the CLI sends: `--token`, else `MODELWATCH_TOKEN`, else the admin token the host's first start wrote to `<data-dir>/admin.token`. */
export function cliToken(args: Pick<GlobalArgs, 'token' | 'data-dir'>, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (args.token) return args.token;
  if (env.MODELWATCH_TOKEN) return env.MODELWATCH_TOKEN;
  try {
    return readFileSync(join(cliDataDir(args, env), ADMIN_TOKEN_FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined; // none: a host with --insecure-local needs none, another answers 401 with what to do
  }
}

/** The client of a command: the host's URL (`--host`) and the token (`cliToken`). */
export function clientOf(args: GlobalArgs, options: { timeoutMs?: number } = {}): ModelwatchClient {
  const token = cliToken(args);
  return new ModelwatchClient({ url: args.host, ...options, ...(token !== undefined && { token }) });
}
