import { chmod, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KV } from '@nats-io/kv';
import { PROTOCOL_VERSION, type TokenRecord, type TokenScope } from '@modelwatch/protocol';
import { compileGlob } from '../domain/glob.js';
import { ADMIN_TOKEN_FILE, checkScopes, checkTokenName, generateToken, hashToken, sameHash } from '../domain/tokens.js';
import { ModelwatchError } from '../errors.js';
import { deleteJson, listJson, readJson, updateJson } from './kv.js';
import { WatchedKv } from './watched-kv.js';

/** The name of the bootstrap admin token (`<data-dir>/admin.token`, or `adminToken`). */
export const ADMIN_TOKEN_NAME = 'admin';

/** A token to create: its name, scopes and, for `ingest`, the endpoints it may post to. */
export interface NewToken {
  name: string;
  scopes: readonly TokenScope[] | string;
  /** A glob of endpoint names the token's `ingest` scope is limited to. */
  endpoints?: string | undefined;
  /** The name of the token that asks. */
  createdBy?: string | undefined;
}

/** What the bootstrap did: provisioned the given token, wrote a new one to a file, or nothing (an admin token exists). */
export type BootstrapOutcome = { action: 'provisioned' } | { action: 'written'; path: string } | { action: 'exists' };

/**
 * The API tokens (`mw_tokens`, key: the token's name), each a named operation: `create` (a new
 * random token, returned once; only its SHA-256 is stored), `revoke`, the bootstrap admin token's
 * `provision` (an operator's token, `adminToken`) and `bootstrap` (first start: a new one written
 * to `<data-dir>/admin.token`, mode 0600). Nothing else writes a token record.
 */
export class TokenStore {
  constructor(private readonly kv: KV) {}

  get(name: string): Promise<TokenRecord | undefined> {
    return readJson<TokenRecord>(this.kv, name);
  }

  /** Every token, by name. */
  async list(): Promise<TokenRecord[]> {
    return (await listJson<TokenRecord>(this.kv)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A new token: `CONFLICT` when one has the name. The token's text is in the answer, and nowhere else. */
  async create(spec: NewToken): Promise<{ token: string; record: TokenRecord }> {
    const name = checkTokenName(spec.name);
    const scopes = checkScopes(spec.scopes);
    if (spec.endpoints !== undefined) {
      compileGlob(spec.endpoints, 'endpoints');
      if (!scopes.includes('ingest') || scopes.some((s) => s !== 'ingest' && s !== 'read')) {
        throw new ModelwatchError(
          'INVALID_ARGUMENT',
          `endpoints: limits the ingest scope; a token with it may have the scopes ingest and read only, not ${scopes.join(', ')}`,
        );
      }
    }
    const token = generateToken();
    const record: TokenRecord = {
      v: PROTOCOL_VERSION,
      name,
      hash: hashToken(token),
      scopes,
      ...(spec.endpoints !== undefined && { endpoints: spec.endpoints }),
      createdAt: Date.now(),
      ...(spec.createdBy !== undefined && { createdBy: spec.createdBy }),
    };
    await updateJson<TokenRecord>(this.kv, name, (cur) => {
      if (cur) throw new ModelwatchError('CONFLICT', `a token named '${name}' exists (modelwatch token revoke ${name} first)`);
      return record;
    });
    return { token, record };
  }

  /** Remove a token: it is refused from then on. `NOT_FOUND` when none has the name. */
  async revoke(name: string): Promise<TokenRecord> {
    const gone = await deleteJson<TokenRecord>(this.kv, checkTokenName(name));
    if (!gone) throw new ModelwatchError('NOT_FOUND', `no token named '${name}' (see modelwatch token list)`);
    return gone;
  }

  /** Make `token` the admin token named `admin` (an operator's, from a secret): replaces an `admin` token of other text. */
  async provision(token: string): Promise<void> {
    const hash = hashToken(token);
    await updateJson<TokenRecord>(this.kv, ADMIN_TOKEN_NAME, (cur) =>
      cur && sameHash(cur.hash, hash) && cur.scopes.includes('admin')
        ? undefined
        : { v: PROTOCOL_VERSION, name: ADMIN_TOKEN_NAME, hash, scopes: ['admin'], createdAt: Date.now() },
    );
  }

  /**
   * First start: when no token has the `admin` scope, make one named `admin` and write it to
   * `<dataDir>/admin.token` (mode 0600); otherwise nothing (the file is never rewritten).
   */
  async bootstrap(dataDir: string): Promise<BootstrapOutcome> {
    if ((await this.list()).some((t) => t.scopes.includes('admin'))) return { action: 'exists' };
    const token = generateToken();
    const path = join(dataDir, ADMIN_TOKEN_FILE);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, `${token}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600);
    let created = false;
    try {
      await updateJson<TokenRecord>(this.kv, ADMIN_TOKEN_NAME, (cur) => {
        if (cur) return undefined; // another host made it a moment ago
        created = true;
        return { v: PROTOCOL_VERSION, name: ADMIN_TOKEN_NAME, hash: hashToken(token), scopes: ['admin'], createdAt: Date.now() };
      });
      if (!created) return { action: 'exists' };
      await rename(tmp, path);
      return { action: 'written', path };
    } finally {
      await rm(tmp, { force: true });
    }
  }
}

/** Who a request's token is: its record (or a token of the process itself, never stored). */
export type KnownToken = Pick<TokenRecord, 'name' | 'scopes' | 'endpoints'>;

/**
 * The tokens as the API checks them: a live copy of `mw_tokens` (a KV watch) indexed by hash, so a
 * request costs one SHA-256 and a map lookup. The lookup's time depends on the hash of the text
 * the client sent alone, which tells nothing of a stored token (finding a token from its hash is a
 * SHA-256 preimage): no constant-time comparison is needed after it.
 * A token created or revoked through this process is known at once; through another, when its
 * watch brings the change.
 */
export class TokenCache {
  private readonly watched: WatchedKv<TokenRecord>;
  private readonly byHash = new Map<string, TokenRecord | (KnownToken & { hash: string })>();
  private readonly hashOf = new Map<string, string>();

  constructor(kv: KV) {
    this.watched = new WatchedKv<TokenRecord>(kv);
    this.watched.onChange((name, value) => (value ? this.remember(value) : this.forget(name)));
  }

  async start(): Promise<void> {
    await this.watched.start();
  }

  stop(): void {
    this.watched.stop();
  }

  /** The token's record, or undefined for a token nobody created (or revoked). */
  lookup(token: string): KnownToken | undefined {
    return this.byHash.get(hashToken(token));
  }

  /** The token whose hash is `hash` (a dashboard session keeps the hash, never the token), or undefined once revoked. */
  lookupHash(hash: string): KnownToken | undefined {
    return this.byHash.get(hash);
  }

  remember(rec: TokenRecord): void {
    this.forget(rec.name);
    this.byHash.set(rec.hash, rec);
    this.hashOf.set(rec.name, rec.hash);
  }

  forget(name: string): void {
    const h = this.hashOf.get(name);
    if (h !== undefined) this.byHash.delete(h);
    this.hashOf.delete(name);
  }

  /** A token of this process alone (the host's own client, for `--dev-plugins`): known here, stored nowhere. */
  internal(name: string, scopes: TokenScope[]): string {
    const token = generateToken();
    const hash = hashToken(token);
    this.byHash.set(hash, { name, scopes, hash });
    return token;
  }
}
