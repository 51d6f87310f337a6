/**
 * Sessions of the web dashboard (`/ui`): a sign-in with an API token gives an opaque session id
 * in a cookie; the id maps, in this process's memory, to the token's hash, so every request of
 * the session is checked against the token as it is now (a revoked token ends its sessions).
 */
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { hashToken } from '../domain/tokens.js';
import type { KnownToken, TokenCache } from '../store/tokens.js';

/** The name of the session cookie. */
export const SESSION_COOKIE = 'mw_session';

/** How long a session lasts after its sign-in. @default 12 hours */
export const DEFAULT_SESSION_TTL_MS = 12 * 3_600_000;

/** The most sessions held at once: the oldest goes first. */
const MAX_SESSIONS = 10_000;

interface Session {
  hash: string;
  expiresAt: number;
}

export interface UiSessionsOptions {
  tokens: TokenCache;
  /** @default DEFAULT_SESSION_TTL_MS */
  ttlMs?: number;
  now?: () => number;
}

export class UiSessions {
  private readonly sessions = new Map<string, Session>();
  readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly opts: UiSessionsOptions) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    this.now = opts.now ?? Date.now;
  }

  /** A new session for `token` (the secret), or undefined when no such token is known. */
  create(token: string): { id: string; token: KnownToken; expiresAt: number } | undefined {
    const known = this.opts.tokens.lookup(token);
    if (!known) return undefined;
    this.prune();
    while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    const expiresAt = this.now() + this.ttlMs;
    this.sessions.set(id, { hash: hashToken(token), expiresAt });
    return { id, token: known, expiresAt };
  }

  /** The token of a live session, or undefined (unknown, expired, or its token revoked). */
  lookup(id: string): KnownToken | undefined {
    const s = this.sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= this.now()) {
      this.sessions.delete(id);
      return undefined;
    }
    const token = this.opts.tokens.lookupHash(s.hash);
    if (!token) this.sessions.delete(id);
    return token;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  private prune(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (s.expiresAt <= now) this.sessions.delete(id);
  }
}

/** The session id a request's cookie carries, if any. */
export function sessionIdOf(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) {
      const v = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9_-]{20,100}$/.test(v) ? v : undefined;
    }
  }
  return undefined;
}

/** The `Set-Cookie` value of a session (`id` undefined: the cookie cleared). */
export function sessionCookie(id: string | undefined, opts: { secure: boolean; maxAgeS?: number }): string {
  const parts = [`${SESSION_COOKIE}=${id ?? ''}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${id === undefined ? 0 : Math.floor(opts.maxAgeS ?? 0)}`];
  if (opts.secure) parts.push('Secure');
  return parts.join('; ');
}
