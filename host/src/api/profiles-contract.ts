/** The HTTP contract of window profiles and results roll-ups (`routes/profiles.ts`), shared with the client. */
import type { ProfileResolution, ResultsRollup, WindowProfile } from '@modelwatch/protocol';

export const ProfileRoutes = {
  profiles: '/api/v1/endpoints/:name/profiles',
  profile: '/api/v1/endpoints/:name/profiles/:windowStart',
  rollups: '/api/v1/endpoints/:name/rollups',
} as const;

/** `GET /api/v1/endpoints/:name/profiles`. */
export interface ProfilesReply {
  profiles: WindowProfile[];
}

/** `GET /api/v1/endpoints/:name/rollups`. */
export interface RollupsReply {
  rollups: ResultsRollup[];
}

/** The query of `GET /api/v1/endpoints/:name/profiles`: window starts in `[from, to)` (ISO or ms; roll-ups: hours or days overlapping it), oldest first. */
export interface ProfilesParams {
  from?: number | string;
  to?: number | string;
  /** @default 1000 (at most 10000) */
  limit?: number;
  /** @default 'window' */
  resolution?: ProfileResolution;
}

/** The query of `GET /api/v1/endpoints/:name/rollups`: hours or days overlapping `[from, to)`, oldest first. */
export interface RollupsParams {
  resolution: 'hour' | 'day';
  app?: string;
  from?: number | string;
  to?: number | string;
  limit?: number;
}
