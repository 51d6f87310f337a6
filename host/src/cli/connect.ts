import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { ModelwatchClient } from '../client/client.js';
import { ModelwatchError } from '../errors.js';
import { ADMIN_TOKEN_FILE } from '../domain/tokens.js';
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
  return new ModelwatchClient({ url: hostUrl(args.host), ...options, ...(token !== undefined && { token }) });
}

/** `--host` (or `MODELWATCH_HOST`) as given, when it is an http(s) URL; else the error that says so (not "cannot reach"). */
export function hostUrl(text: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // not a URL at all
  }
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
    throw new ModelwatchError('INVALID_ARGUMENT', `--host ${text}: expected the host's URL, e.g. http://127.0.0.1:7077`);
  }
  return text;
}
