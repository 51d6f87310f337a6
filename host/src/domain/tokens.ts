import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { TOKEN_SCOPES, type TokenRecord, type TokenScope } from '@modelwatch/protocol';
import { ModelwatchError } from '../errors.js';

/** The file the first start writes the admin token to, in the data folder. */
export const ADMIN_TOKEN_FILE = 'admin.token';

/** What every token modelwatch makes starts with (so a leaked one is easy to search for). */
export const TOKEN_PREFIX = 'mw_';

/** A new API token: `mw_` and 256 random bits in base64url (43 characters). */
export function generateToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/** The hex SHA-256 of a token's text: all that is stored of it (one-shot: a third of a Hash object's cost, on every request). */
export function hashToken(token: string): string {
  return hash('sha256', token, 'hex');
}

/** Two hex hashes compared in constant time. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** A token given by an operator (`adminToken`, `MODELWATCH_ADMIN_TOKEN`): 32 to 512 visible ASCII characters. */
export function checkTokenText(token: string, what: string): string {
  if (!/^[\x21-\x7e]{32,512}$/.test(token)) {
    throw new ModelwatchError(
      'INVALID_OPTIONS',
      `${what}: expected 32 to 512 visible ASCII characters (no spaces), e.g. one made by 'openssl rand -base64 32'`,
    );
  }
  return token;
}

/** A token's name: 1-64 letters, digits, '_' or '-' (a KV key). */
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export function checkTokenName(name: unknown): string {
  if (typeof name !== 'string' || !TOKEN_NAME.test(name)) {
    throw new ModelwatchError(
      'INVALID_ARGUMENT',
      `token name ${JSON.stringify(name)} is not valid: use 1-64 letters, digits, '_' or '-', starting with a letter or digit`,
    );
  }
  return name;
}

/** A list of scopes, without repeats; each one of `TOKEN_SCOPES`. */
export function checkScopes(scopes: unknown): TokenScope[] {
  const list = typeof scopes === 'string' ? scopes.split(',').map((s) => s.trim()) : scopes;
  if (!Array.isArray(list) || list.length === 0) throw new ModelwatchError('INVALID_ARGUMENT', `scopes: expected one or more of ${TOKEN_SCOPES.join(', ')}`);
  const out: TokenScope[] = [];
  for (const s of list) {
    if (!TOKEN_SCOPES.includes(s as TokenScope)) {
      throw new ModelwatchError('INVALID_ARGUMENT', `scopes: unknown scope ${JSON.stringify(s)} (known: ${TOKEN_SCOPES.join(', ')})`);
    }
    if (!out.includes(s as TokenScope)) out.push(s as TokenScope);
  }
  return out;
}

/** Whether a token may do what a route of `scope` does: `admin` may do everything. */
export function hasScope(token: Pick<TokenRecord, 'scopes'>, scope: TokenScope): boolean {
  return token.scopes.includes(scope) || token.scopes.includes('admin');
}
