/**
 * What each channel type sends: the template variables of a notification, the default templates
 * (Mustache), and the bodies (generic webhook, Slack Block Kit, email, PagerDuty Events v2,
 * Alertmanager webhook) of one notification or of a digest of several.
 */
import { createHash } from 'node:crypto';
import Mustache from 'mustache';
import type { AlertNotification } from '../contract.js';
import type { ChannelSpec, ChannelTemplate } from './channels.js';

/** One message to send: a notification, or a digest of several for one channel. */
export interface Outgoing {
  /** The idempotency key: the notification's key, or `digest-<sha256 of the keys>`. */
  key: string;
  notifications: AlertNotification[];
}

export const digestKey = (keys: readonly string[]): string =>
  `digest-${createHash('sha256')
    .update([...keys].sort().join('\n'))
    .digest('hex')
    .slice(0, 32)}`;

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/**
 * The dashboard link of a notification's window (the dashboard's window page:
 * `#/endpoints/<endpoint>/windows/<app>/<start>`), else of its endpoint, when the host knows its
 * public URL.
 */
export function dashboardUrl(n: AlertNotification, publicUrl: string | undefined): string | undefined {
  if (!publicUrl) return undefined;
  const a = n.alert;
  if (!a.endpoint) return `${publicUrl}/ui/`;
  const e = `${publicUrl}/ui/#/endpoints/${encodeURIComponent(a.endpoint)}`;
  return a.windowStart === undefined || !a.app ? e : `${e}/windows/${encodeURIComponent(a.app)}/${a.windowStart}`;
}

/** The variables a channel template sees (documented in the README's "Alert notifications"). */
export function templateView(n: AlertNotification, publicUrl: string | undefined) {
  const a = n.alert;
  return {
    key: n.key,
    kind: n.kind,
    kindTitle: { firing: 'Firing', resolved: 'Resolved', acknowledged: 'Acknowledged', repeat: 'Still firing' }[n.kind],
    at: iso(n.at),
    alert: a,
    id: a.id,
    rule: a.rule,
    severity: a.severity,
    state: a.state,
    endpoint: a.endpoint,
    app: a.app,
    result: a.result,
    summary: a.summary,
    value: a.value,
    threshold: a.threshold,
    status: a.status,
    windowStart: iso(a.windowStart),
    windowEnd: iso(a.windowEnd),
    window: a.windowStart === undefined ? undefined : `${iso(a.windowStart)} - ${iso(a.windowEnd) ?? ''}`,
    windows: a.windows.length,
    labels: Object.entries(a.labels).map(([name, value]) => ({ name, value })),
    startsAt: iso(a.startsAt),
    dashboardUrl: dashboardUrl(n, publicUrl),
  };
}

export const DEFAULT_TEMPLATE: Required<ChannelTemplate> = {
  title: '[{{severity}}] {{kindTitle}}: {{rule}}{{#endpoint}} on {{endpoint}}{{/endpoint}}',
  text: [
    '{{summary}}',
    '{{#endpoint}}endpoint: {{endpoint}}{{/endpoint}}{{#result}}, result: {{#app}}{{app}}/{{/app}}{{result}}{{/result}}',
    '{{#value}}value: {{value}}{{/value}}{{#threshold}} (threshold {{threshold}}){{/threshold}}',
    '{{#window}}window: {{window}}{{/window}}',
    '{{#dashboardUrl}}{{dashboardUrl}}{{/dashboardUrl}}',
  ].join('\n'),
  html: [
    '<h2>[{{severity}}] {{kindTitle}}: {{rule}}</h2>',
    '<p>{{summary}}</p>',
    '<table>',
    '{{#endpoint}}<tr><th align="left">endpoint</th><td>{{endpoint}}</td></tr>{{/endpoint}}',
    '{{#result}}<tr><th align="left">result</th><td>{{#app}}{{app}}/{{/app}}{{result}}</td></tr>{{/result}}',
    '{{#value}}<tr><th align="left">value</th><td>{{value}}</td></tr>{{/value}}',
    '{{#threshold}}<tr><th align="left">threshold</th><td>{{threshold}}</td></tr>{{/threshold}}',
    '{{#window}}<tr><th align="left">window</th><td>{{window}}</td></tr>{{/window}}',
    '</table>',
    '{{#dashboardUrl}}<p><a href="{{dashboardUrl}}">Open the window in the dashboard</a></p>{{/dashboardUrl}}',
  ].join('\n'),
};

const plain = { escape: (v: unknown) => String(v) };

/** A template rendered without escaping (text), or with HTML escaping (`html`). */
export function render(template: string, view: object, html = false): string {
  return html ? Mustache.render(template, view) : Mustache.render(template, view, {}, plain);
}

/** Title, text and HTML of one notification with the channel's templates. */
export function renderNotification(n: AlertNotification, t: ChannelTemplate | undefined, publicUrl: string | undefined) {
  const view = templateView(n, publicUrl);
  return {
    title: render(t?.title ?? DEFAULT_TEMPLATE.title, view).trim(),
    text: render(t?.text ?? DEFAULT_TEMPLATE.text, view)
      .replace(/\n{2,}/g, '\n')
      .trim(),
    html: render(t?.html ?? DEFAULT_TEMPLATE.html, view, true),
  };
}

/** Title, text and HTML of a digest: a line per notification (the first 50), and how many more. */
export function renderDigest(out: Outgoing, t: ChannelTemplate | undefined, publicUrl: string | undefined) {
  const items = out.notifications.map((n) => renderNotification(n, t, publicUrl));
  const shown = items.slice(0, 50);
  const more = items.length - shown.length;
  const title = `${out.notifications.length} alert notifications (digest)`;
  return {
    title,
    text: [...shown.map((i) => `- ${i.title}`), ...(more > 0 ? [`... and ${more} more`] : [])].join('\n'),
    html: `<h2>${Mustache.escape(title)}</h2><ul>${shown.map((i) => `<li>${Mustache.escape(i.title)}</li>`).join('')}</ul>${more > 0 ? `<p>... and ${more} more</p>` : ''}`,
  };
}

export const WEBHOOK_BODY_VERSION = 1;

/** The generic webhook's (and the NATS channel's) JSON body; its JSON Schema is {@link WEBHOOK_BODY_SCHEMA}. */
export function webhookBody(out: Outgoing, channel: ChannelSpec, publicUrl: string | undefined) {
  if (out.notifications.length === 1) {
    const n = out.notifications[0]!;
    const r = renderNotification(n, channel.template, publicUrl);
    const link = dashboardUrl(n, publicUrl);
    return {
      version: WEBHOOK_BODY_VERSION,
      type: 'notification' as const,
      key: out.key,
      channel: channel.name,
      kind: n.kind,
      at: n.at,
      alert: n.alert,
      title: r.title,
      text: r.text,
      ...(link !== undefined && { dashboardUrl: link }),
    };
  }
  const r = renderDigest(out, channel.template, publicUrl);
  return {
    version: WEBHOOK_BODY_VERSION,
    type: 'digest' as const,
    key: out.key,
    channel: channel.name,
    title: r.title,
    text: r.text,
    notifications: out.notifications.map((n) => ({ key: n.key, kind: n.kind, at: n.at, alert: n.alert })),
  };
}

/** Slack incoming webhook: a Block Kit message. */
export function slackBody(out: Outgoing, channel: ChannelSpec, publicUrl: string | undefined) {
  if (out.notifications.length > 1) {
    const r = renderDigest(out, channel.template, publicUrl);
    return {
      text: r.title,
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: r.title.slice(0, 150) } },
        { type: 'section', text: { type: 'mrkdwn', text: r.text.slice(0, 2900) } },
      ],
    };
  }
  const n = out.notifications[0]!;
  const a = n.alert;
  const r = renderNotification(n, channel.template, publicUrl);
  const link = dashboardUrl(n, publicUrl);
  const field = (label: string, v: unknown) => (v === undefined ? [] : [{ type: 'mrkdwn', text: `*${label}*\n${String(v)}` }]);
  const fields = [
    ...field('Endpoint', a.endpoint),
    ...field('Result', a.result === undefined ? undefined : `${a.app ? `${a.app}/` : ''}${a.result}`),
    ...field('Value', a.value),
    ...field('Threshold', a.threshold),
    ...field('Window', a.windowStart === undefined ? undefined : `${iso(a.windowStart)} - ${iso(a.windowEnd) ?? ''}`),
    ...field('Severity', a.severity),
  ].slice(0, 10);
  return {
    text: r.title,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: r.title.slice(0, 150) } },
      { type: 'section', text: { type: 'mrkdwn', text: r.text.slice(0, 2900) } },
      ...(fields.length ? [{ type: 'section', fields }] : []),
      ...(link
        ? [{ type: 'actions', elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open in dashboard' }, url: link, action_id: 'open-dashboard' }] }]
        : []),
    ],
  };
}

const PD_SEVERITY = { low: 'info', medium: 'warning', high: 'error', critical: 'critical' } as const;

/** PagerDuty Events v2 (`dedup_key` = the alert id; a digest triggers one event of its own key). */
export function pagerDutyBody(out: Outgoing, channel: ChannelSpec & { routingKey: string }, publicUrl: string | undefined) {
  if (out.notifications.length > 1) {
    const r = renderDigest(out, channel.template, publicUrl);
    const worst = out.notifications.map((n) => n.alert.severity).sort((x, y) => rank(y) - rank(x))[0]!;
    return {
      routing_key: channel.routingKey,
      event_action: 'trigger',
      dedup_key: out.key,
      payload: { summary: r.title.slice(0, 1024), source: 'modelwatch', severity: PD_SEVERITY[worst], custom_details: { text: r.text } },
    };
  }
  const n = out.notifications[0]!;
  const a = n.alert;
  const r = renderNotification(n, channel.template, publicUrl);
  const link = dashboardUrl(n, publicUrl);
  const action = n.kind === 'resolved' ? 'resolve' : n.kind === 'acknowledged' ? 'acknowledge' : 'trigger';
  return {
    routing_key: channel.routingKey,
    event_action: action,
    dedup_key: a.id,
    ...(action === 'trigger' && {
      payload: {
        summary: r.title.slice(0, 1024),
        source: a.endpoint ?? 'modelwatch',
        severity: PD_SEVERITY[a.severity],
        timestamp: new Date(n.at).toISOString(),
        component: a.app,
        group: a.rule,
        class: a.result,
        custom_details: { text: r.text, value: a.value, threshold: a.threshold, windows: a.windows, labels: a.labels },
      },
      ...(link && { links: [{ href: link, text: 'Open in dashboard' }] }),
    }),
  };
}

const rank = (s: string) => ['low', 'medium', 'high', 'critical'].indexOf(s);

/** Alertmanager's webhook body (version 4): one alert per notification, a digest carries them all. */
export function alertmanagerBody(out: Outgoing, channel: ChannelSpec, publicUrl: string | undefined) {
  const alerts = out.notifications.map((n) => {
    const a = n.alert;
    const r = renderNotification(n, channel.template, publicUrl);
    const labels: Record<string, string> = {
      ...a.labels,
      alertname: a.rule,
      severity: a.severity,
      ...(a.endpoint !== undefined && { endpoint: a.endpoint }),
      ...(a.app !== undefined && { app: a.app }),
      ...(a.result !== undefined && { result: a.result }),
    };
    return {
      status: n.kind === 'resolved' ? 'resolved' : 'firing',
      labels,
      annotations: { summary: r.title, description: r.text },
      startsAt: new Date(a.startsAt).toISOString(),
      endsAt: a.resolvedAt === undefined ? '0001-01-01T00:00:00Z' : new Date(a.resolvedAt).toISOString(),
      generatorURL: dashboardUrl(n, publicUrl) ?? '',
      fingerprint: createHash('sha256').update(a.id).digest('hex').slice(0, 16),
    };
  });
  const firing = alerts.some((a) => a.status === 'firing');
  const common = (pick: (a: (typeof alerts)[number]) => Record<string, string>) => {
    const [first, ...rest] = alerts.map(pick);
    return Object.fromEntries(Object.entries(first ?? {}).filter(([k, v]) => rest.every((o) => o[k] === v)));
  };
  return {
    version: '4',
    groupKey: out.key,
    truncatedAlerts: 0,
    status: firing ? 'firing' : 'resolved',
    receiver: channel.name,
    groupLabels: {},
    commonLabels: common((a) => a.labels),
    commonAnnotations: common((a) => a.annotations),
    externalURL: publicUrl ?? '',
    alerts,
  };
}

const alertSchema = {
  type: 'object',
  required: ['id', 'rule', 'severity', 'state', 'summary', 'windows', 'labels', 'startsAt'],
  properties: {
    id: { type: 'string' },
    rule: { type: 'string' },
    severity: { enum: ['low', 'medium', 'high', 'critical'] },
    state: { enum: ['firing', 'acknowledged', 'resolved'] },
    endpoint: { type: 'string' },
    app: { type: 'string' },
    result: { type: 'string' },
    summary: { type: 'string' },
    value: { type: 'number' },
    threshold: { type: 'number' },
    status: { type: 'integer', minimum: 0, maximum: 3 },
    windows: { type: 'array', items: { type: 'number' }, description: 'start (ms) of each window that made it fire, oldest first' },
    windowStart: { type: 'number' },
    windowEnd: { type: 'number' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    startsAt: { type: 'number' },
    acknowledgedAt: { type: 'number' },
    acknowledgedBy: { type: 'string' },
    resolvedAt: { type: 'number' },
  },
} as const;
const kind = { enum: ['firing', 'resolved', 'acknowledged', 'repeat'] } as const;

/** The JSON Schema of the generic webhook's body (and of the NATS channel's messages). */
export const WEBHOOK_BODY_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://modelwatch.dev/schemas/alert-webhook-body.json',
  title: 'modelwatch alert notification (webhook and NATS channels)',
  oneOf: [
    {
      type: 'object',
      required: ['version', 'type', 'key', 'channel', 'kind', 'at', 'alert', 'title', 'text'],
      properties: {
        version: { const: 1 },
        type: { const: 'notification' },
        key: { type: 'string', description: 'the idempotency key (also the Idempotency-Key header): dedupe on it' },
        channel: { type: 'string' },
        kind,
        at: { type: 'number', description: 'when the transition happened, ms since the epoch' },
        alert: alertSchema,
        title: { type: 'string' },
        text: { type: 'string' },
        dashboardUrl: { type: 'string' },
      },
    },
    {
      type: 'object',
      required: ['version', 'type', 'key', 'channel', 'title', 'text', 'notifications'],
      properties: {
        version: { const: 1 },
        type: { const: 'digest' },
        key: { type: 'string' },
        channel: { type: 'string' },
        title: { type: 'string' },
        text: { type: 'string' },
        notifications: {
          type: 'array',
          items: {
            type: 'object',
            required: ['key', 'kind', 'at', 'alert'],
            properties: { key: { type: 'string' }, kind, at: { type: 'number' }, alert: alertSchema },
          },
        },
      },
    },
  ],
} as const;
