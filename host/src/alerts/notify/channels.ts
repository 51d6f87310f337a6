/**
 * Alert notification channels: their shapes, the JSON Schema they are checked with (the API's and
 * the `--alerts FILE` loader's), redaction of their secrets and resolution of `${ENV_VAR}` references.
 */
import type { ErrorObject } from 'ajv';
import { ALERT_SEVERITIES, type AlertSeverity, type NotificationKind } from '../contract.js';
import { ModelwatchError } from '../../errors.js';
import { ajvOnUse, checkOnUse } from '../../schema-check.js';

export const CHANNEL_TYPES = ['webhook', 'slack', 'email', 'nats', 'pagerduty', 'alertmanager'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];
export const NOTIFICATION_KINDS: readonly NotificationKind[] = ['firing', 'resolved', 'acknowledged', 'repeat'];

/** Which notifications a channel takes besides those that name it: all conditions must hold. */
export interface ChannelRoute {
  /** At least this severity. */
  minSeverity?: AlertSeverity;
  /** One of these severities. */
  severities?: AlertSeverity[];
  /** Every one of these labels, with this value (`*`: any value), on the alert. */
  labels?: Record<string, string>;
}

/** Mustache templates of a channel's message (see the README's "Alert notifications" for the variables). */
export interface ChannelTemplate {
  /** One line: the email subject, Slack's header, the summary of PagerDuty and Alertmanager. */
  title?: string;
  /** Plain text: the email's text part, Slack's section, the webhook body's `text`. */
  text?: string;
  /** The email's HTML part (values are HTML-escaped). */
  html?: string;
}

interface ChannelBase {
  name: string;
  description?: string;
  /** Route notifications by severity and labels to this channel (without it: only those that name it). */
  route?: ChannelRoute;
  /** Which transitions it is told of. @default ['firing', 'resolved', 'repeat'] */
  kinds?: NotificationKind[];
  template?: ChannelTemplate;
}

export interface WebhookChannel extends ChannelBase {
  type: 'webhook';
  url: string;
  /** HMAC-SHA256 key of the `Modelwatch-Signature` header (secret). */
  secret?: string;
  /** Extra headers, e.g. an Authorization (secret: values redacted on read). */
  headers?: Record<string, string>;
}
export interface SlackChannel extends ChannelBase {
  type: 'slack';
  /** The incoming webhook URL (secret). */
  url: string;
}
export interface EmailChannel extends ChannelBase {
  type: 'email';
  smtp: { host: string; port?: number; secure?: boolean; ignoreTLS?: boolean; user?: string; password?: string };
  from: string;
  to: string[];
}
export interface NatsChannel extends ChannelBase {
  type: 'nats';
  /** A subject of the host's NATS (not `mw.`, `$` or `_INBOX` ones). */
  subject: string;
}
export interface PagerDutyChannel extends ChannelBase {
  type: 'pagerduty';
  /** The Events v2 integration (routing) key (secret). */
  routingKey: string;
  /** @default 'https://events.pagerduty.com/v2/enqueue' */
  url?: string;
}
export interface AlertmanagerChannel extends ChannelBase {
  type: 'alertmanager';
  /** A receiver of Alertmanager's webhook format, or an Alertmanager's `/api/v2/alerts`. */
  url: string;
  headers?: Record<string, string>;
}

export type ChannelSpec = WebhookChannel | SlackChannel | EmailChannel | NatsChannel | PagerDutyChannel | AlertmanagerChannel;

/** A channel as read: secrets redacted, where it comes from. */
export type ChannelInfo = ChannelSpec & { source: 'api' | 'file' };

export const PAGERDUTY_URL = 'https://events.pagerduty.com/v2/enqueue';
export const CHANNEL_NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
export const REDACTED = '***';

const str = { type: 'string', minLength: 1, maxLength: 4096 } as const;
const headers = { type: 'object', additionalProperties: { type: 'string', maxLength: 4096 }, maxProperties: 32 } as const;
const base = {
  name: { type: 'string', pattern: CHANNEL_NAME_PATTERN },
  description: { type: 'string', maxLength: 1000 },
  route: {
    type: 'object',
    additionalProperties: false,
    properties: {
      minSeverity: { enum: ALERT_SEVERITIES },
      severities: { type: 'array', items: { enum: ALERT_SEVERITIES }, uniqueItems: true },
      labels: { type: 'object', additionalProperties: { type: 'string' } },
    },
  },
  kinds: { type: 'array', items: { enum: NOTIFICATION_KINDS }, uniqueItems: true, minItems: 1 },
  template: {
    type: 'object',
    additionalProperties: false,
    properties: { title: { type: 'string', maxLength: 2000 }, text: { type: 'string', maxLength: 20_000 }, html: { type: 'string', maxLength: 50_000 } },
  },
} as const;
const variant = (type: ChannelType, required: string[], properties: Record<string, unknown>) => ({
  type: 'object',
  additionalProperties: false,
  required: ['name', 'type', ...required],
  properties: { ...base, type: { const: type }, ...properties },
});

/** The JSON Schema of a channel (API body, `--alerts FILE` entry). */
export const CHANNEL_SCHEMA = {
  $id: 'https://modelwatch.dev/schemas/alert-channel.json',
  type: 'object',
  required: ['name', 'type'],
  properties: { type: { enum: CHANNEL_TYPES } },
  oneOf: [
    variant('webhook', ['url'], { url: str, secret: str, headers }),
    variant('slack', ['url'], { url: str }),
    variant('email', ['smtp', 'from', 'to'], {
      smtp: {
        type: 'object',
        additionalProperties: false,
        required: ['host'],
        properties: {
          host: str,
          port: { type: 'integer', minimum: 1, maximum: 65535 },
          secure: { type: 'boolean' },
          ignoreTLS: { type: 'boolean' },
          user: str,
          password: str,
        },
      },
      from: str,
      to: { type: 'array', items: str, minItems: 1, maxItems: 100 },
    }),
    variant('nats', ['subject'], { subject: { type: 'string', pattern: '^[^\\s*>]+$', maxLength: 255 } }),
    variant('pagerduty', ['routingKey'], { routingKey: str, url: str }),
    variant('alertmanager', ['url'], { url: str, headers }),
  ],
} as const;

const checkSchema = checkOnUse(ajvOnUse({ allErrors: false }), CHANNEL_SCHEMA);

function describe(errs: ErrorObject[] | null | undefined, type: unknown): string {
  // oneOf reports every variant: keep those of the variant the channel names
  const idx = CHANNEL_TYPES.indexOf(type as ChannelType);
  const mine = (errs ?? []).filter((e) => idx < 0 || e.schemaPath.startsWith(`#/oneOf/${idx}/`));
  const e = mine[0] ?? errs?.[0];
  if (!e) return 'invalid';
  const at = e.instancePath || '(the channel)';
  if (e.keyword === 'additionalProperties') return `${at}: unknown property '${(e.params as { additionalProperty: string }).additionalProperty}'`;
  if (e.keyword === 'enum' || e.keyword === 'const')
    return `${at}: must be one of ${JSON.stringify((e.params as { allowedValues?: unknown }).allowedValues ?? e.params)}`;
  return `${at} ${e.message ?? 'is invalid'}`;
}

/**
 * Check a channel (an API body or an entry of the `--alerts FILE`): its shape, its URLs, its NATS
 * subject. Throws `INVALID_ARGUMENT` naming the channel and what is wrong. `${ENV_VAR}` references
 * are kept as they are (resolved at each delivery).
 */
export function validateChannel(input: unknown): ChannelSpec {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new ModelwatchError('INVALID_ARGUMENT', 'a channel must be a JSON object');
  const rec = input as Record<string, unknown>;
  const label = typeof rec.name === 'string' ? `channel '${rec.name}'` : 'channel';
  if (!CHANNEL_TYPES.includes(rec.type as ChannelType)) {
    throw new ModelwatchError('INVALID_ARGUMENT', `${label}: type must be one of ${CHANNEL_TYPES.join(', ')}, got ${JSON.stringify(rec.type)}`);
  }
  if (!checkSchema(input)) throw new ModelwatchError('INVALID_ARGUMENT', `${label}: ${describe(checkSchema.errors, rec.type)}`);
  const c = input as unknown as ChannelSpec;
  for (const [field, url] of channelUrls(c)) {
    if (hasEnvRef(url)) continue;
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new ModelwatchError('INVALID_ARGUMENT', `${label}: ${field} '${redactUrl(url)}' is not a URL`);
    }
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new ModelwatchError('INVALID_ARGUMENT', `${label}: ${field} must be an http(s) URL`);
  }
  if (c.type === 'nats' && /^(mw\.|\$|_INBOX)/i.test(c.subject)) {
    throw new ModelwatchError('INVALID_ARGUMENT', `${label}: subject '${c.subject}' is the host's own (mw.*, $*, _INBOX*): pick another`);
  }
  return c;
}

/** The URLs a channel calls, by field. */
export function channelUrls(c: ChannelSpec): Array<[string, string]> {
  switch (c.type) {
    case 'webhook':
    case 'slack':
    case 'alertmanager':
      return [['url', c.url]];
    case 'pagerduty':
      return [['url', c.url ?? PAGERDUTY_URL]];
    default:
      return [];
  }
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
export const hasEnvRef = (s: string): boolean => /\$\{[A-Za-z_][A-Za-z0-9_]*\}/.test(s);

/** A value with its `${ENV_VAR}` references replaced from the environment; a missing variable is an error naming it. */
export function resolveEnv(value: string, env: NodeJS.ProcessEnv = process.env): string {
  return value.replace(ENV_REF, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) throw new ModelwatchError('INVALID_ARGUMENT', `environment variable ${name} (referenced as \${${name}}) is not set`);
    return v;
  });
}

/** A channel with every string resolved (`resolveEnv`): what a delivery uses, never stored or returned. */
export function resolveChannel<C extends ChannelSpec>(c: C, env: NodeJS.ProcessEnv = process.env): C {
  const walk = (v: unknown, key: string): unknown => {
    if (key === 'template') return v; // templates may hold ${...} as text
    if (typeof v === 'string') return resolveEnv(v, env);
    if (Array.isArray(v)) return v.map((x) => walk(x, ''));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return walk(c, '') as C;
}

/** A secret as read: a `${ENV_VAR}` reference as it is (it is not the secret), anything else `***`. */
const redact = (v: string): string => (/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(v) ? v : REDACTED);

/** The URL without what may be a secret in it (user info, path, query). */
export function redactUrl(url: string): string {
  if (hasEnvRef(url)) return url.replace(/[^$]*(\$\{[^}]+\})?.*/, (m) => (m.includes('${') ? m : REDACTED));
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/${u.pathname.length > 1 || u.search ? REDACTED : ''}`;
  } catch {
    return REDACTED;
  }
}

/** A channel as every read returns it: secrets redacted (`***`, or the `${ENV_VAR}` reference). */
export function redactChannel(c: ChannelSpec): ChannelSpec {
  const hdrs = (h: Record<string, string> | undefined) => (h ? Object.fromEntries(Object.keys(h).map((k) => [k, redact(h[k]!)])) : undefined);
  switch (c.type) {
    case 'webhook':
      return {
        ...c,
        url: hasEnvRef(c.url) ? c.url : redactUrl(c.url),
        ...(c.secret !== undefined && { secret: redact(c.secret) }),
        ...(c.headers && { headers: hdrs(c.headers)! }),
      };
    case 'slack':
      return { ...c, url: redact(c.url) };
    case 'email':
      return { ...c, smtp: { ...c.smtp, ...(c.smtp.password !== undefined && { password: redact(c.smtp.password) }) } };
    case 'pagerduty':
      return { ...c, routingKey: redact(c.routingKey) };
    case 'alertmanager':
      return { ...c, ...(c.headers && { headers: hdrs(c.headers)! }) };
    default:
      return c;
  }
}

const SEVERITY_RANK: Record<AlertSeverity, number> = { low: 0, medium: 1, high: 2, critical: 3 };

/** Whether a channel's route takes an alert of this severity and these labels. */
export function routeMatches(route: ChannelRoute, severity: AlertSeverity, labels: Record<string, string>): boolean {
  if (route.minSeverity && SEVERITY_RANK[severity] < SEVERITY_RANK[route.minSeverity]) return false;
  if (route.severities && !route.severities.includes(severity)) return false;
  for (const [k, v] of Object.entries(route.labels ?? {})) {
    if (!Object.hasOwn(labels, k)) return false;
    if (v !== '*' && labels[k] !== v) return false;
  }
  return true;
}

export const DEFAULT_KINDS: readonly NotificationKind[] = ['firing', 'resolved', 'repeat'];
