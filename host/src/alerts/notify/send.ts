/**
 * One delivery attempt of an outgoing message to one channel. Reports success or the status code
 * (or the error's code), never the receiver's response body.
 */
import { createHmac } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { headers as natsHeaders } from '@nats-io/transport-node';
import nodemailer from 'nodemailer';
import { resolveChannel, channelUrls, PAGERDUTY_URL, type ChannelSpec } from './channels.js';
import { destinationRefusal } from './destinations.js';
import { alertmanagerBody, pagerDutyBody, renderDigest, renderNotification, slackBody, webhookBody, type Outgoing } from './messages.js';

/** The headers of the generic webhook (and the NATS channel's messages). */
export const NotifyHeaders = {
  /** `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with the channel's secret. */
  signature: 'modelwatch-signature',
  /** Unix seconds when the attempt was made: refuse old ones (replays). */
  timestamp: 'modelwatch-timestamp',
  /** The notification's key (a digest's `digest-...`): the same on every attempt. */
  idempotencyKey: 'idempotency-key',
  /** 1 for the first attempt. */
  attempt: 'modelwatch-attempt',
} as const;

export interface AttemptResult {
  ok: boolean;
  /** The HTTP status (or SMTP reply code) when the receiver answered. */
  status?: number;
  /** What went wrong, without the receiver's body: `HTTP 503`, `ECONNREFUSED`, a refusal of the allow-list. */
  error?: string;
}

export interface SendContext {
  nc: NatsConnection;
  publicUrl: string | undefined;
  allowedHosts: readonly string[] | undefined;
  timeoutMs: number;
  attempt: number;
  env?: NodeJS.ProcessEnv;
}

/** `sha256=<hex>` of `<timestamp>.<body>`: what a receiver recomputes to verify a webhook. */
export function signBody(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

const errorCode = (err: unknown): string => {
  const e = err as { cause?: { code?: string }; code?: string; name?: string; message?: string };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'timeout';
  return e.cause?.code ?? (typeof e.code === 'string' ? e.code : undefined) ?? e.message ?? String(err);
};

async function post(url: string, body: string, hdrs: Record<string, string>, ctx: SendContext): Promise<AttemptResult> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'modelwatch-alerts', ...hdrs },
      body,
      // a redirect could lead anywhere, the allow-list's hosts aside: not followed
      redirect: 'manual',
      signal: AbortSignal.timeout(ctx.timeoutMs),
    });
    await res.body?.cancel().catch(() => undefined);
    return res.ok ? { ok: true, status: res.status } : { ok: false, status: res.status, error: `HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, error: errorCode(err) };
  }
}

/** Deliver `out` to `spec` once: resolve its `${ENV_VAR}`s, check its destination, format, send. */
export async function attemptDelivery(spec: ChannelSpec, out: Outgoing, ctx: SendContext): Promise<AttemptResult> {
  let c: ChannelSpec;
  try {
    c = resolveChannel(spec, ctx.env);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
  const hosts = [...channelUrls(c).map(([, u]) => safeHost(u)), ...(c.type === 'email' ? [c.smtp.host] : [])];
  for (const h of hosts) {
    if (h === undefined) return { ok: false, error: 'the channel URL is not a URL' };
    const refusal = await destinationRefusal(h, ctx.allowedHosts);
    if (refusal) return { ok: false, error: `refused: ${refusal}` };
  }
  const common = { [NotifyHeaders.idempotencyKey]: out.key, [NotifyHeaders.attempt]: String(ctx.attempt) };
  switch (c.type) {
    case 'webhook': {
      const body = JSON.stringify(webhookBody(out, c, ctx.publicUrl));
      const ts = String(Math.floor(Date.now() / 1000));
      const sig: Record<string, string> = c.secret === undefined ? {} : { [NotifyHeaders.signature]: signBody(c.secret, ts, body) };
      return post(c.url, body, { ...c.headers, ...common, [NotifyHeaders.timestamp]: ts, ...sig }, ctx);
    }
    case 'slack':
      return post(c.url, JSON.stringify(slackBody(out, c, ctx.publicUrl)), common, ctx);
    case 'pagerduty':
      return post(c.url ?? PAGERDUTY_URL, JSON.stringify(pagerDutyBody(out, c, ctx.publicUrl)), common, ctx);
    case 'alertmanager': {
      const body = alertmanagerBody(out, c, ctx.publicUrl);
      // an Alertmanager's own API takes the alerts alone; a webhook receiver the whole message
      const toApi = /\/api\/v2\/alerts\/?$/.test(new URL(c.url).pathname);
      return post(c.url, JSON.stringify(toApi ? body.alerts : body), { ...c.headers, ...common }, ctx);
    }
    case 'nats': {
      try {
        const h = natsHeaders();
        h.set(NotifyHeaders.idempotencyKey, out.key);
        h.set(NotifyHeaders.attempt, String(ctx.attempt));
        ctx.nc.publish(c.subject, JSON.stringify(webhookBody(out, c, ctx.publicUrl)), { headers: h });
        await ctx.nc.flush();
        return { ok: true };
      } catch (err) {
        return { ok: false, error: errorCode(err) };
      }
    }
    case 'email': {
      const r =
        out.notifications.length === 1 ? renderNotification(out.notifications[0]!, c.template, ctx.publicUrl) : renderDigest(out, c.template, ctx.publicUrl);
      const transport = nodemailer.createTransport({
        host: c.smtp.host,
        port: c.smtp.port ?? (c.smtp.secure ? 465 : 587),
        secure: c.smtp.secure ?? false,
        ignoreTLS: c.smtp.ignoreTLS ?? false,
        ...(c.smtp.user !== undefined && { auth: { user: c.smtp.user, pass: c.smtp.password ?? '' } }),
        connectionTimeout: ctx.timeoutMs,
        greetingTimeout: ctx.timeoutMs,
        socketTimeout: ctx.timeoutMs,
      });
      try {
        const info = await transport.sendMail({
          from: c.from,
          to: c.to,
          subject: r.title,
          text: r.text,
          html: r.html,
          headers: { 'Idempotency-Key': out.key },
          messageId: `<${out.key.replace(/[^A-Za-z0-9._-]/g, '_')}@modelwatch>`,
        });
        const status = Number(/^(\d{3})/.exec(info.response)?.[1] ?? 250);
        return { ok: true, status };
      } catch (err) {
        const e = err as { responseCode?: number };
        return {
          ok: false,
          ...(e.responseCode !== undefined && { status: e.responseCode }),
          error: e.responseCode ? `SMTP ${e.responseCode}` : errorCode(err),
        };
      } finally {
        transport.close();
      }
    }
  }
}

function safeHost(url: string): string | undefined {
  try {
    return new URL(url).hostname;
  } catch {
    return undefined;
  }
}
