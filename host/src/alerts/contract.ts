/**
 * The contract between alert evaluation (`alerts/rules*`, `alerts/evaluator.ts`: rules, alert
 * states, silences) and notification (`alerts/notify/`: channels, routing, the delivery outbox).
 *
 * The evaluator decides *that* someone must be told (an alert fired, resolved, was
 * acknowledged, or is still firing at its repeat interval) and hands an {@link AlertNotification}
 * to a {@link Notifier}. The notifier decides *who* (routing by the rule's channels, severity and
 * labels), *how* (the channel's format and template) and makes sure it arrives: it stores the
 * notification before sending, retries with backoff, survives restarts, and records every attempt.
 * @module
 */

/** How bad an alert is. Ordered: `low` < `medium` < `high` < `critical`. */
export type AlertSeverity = 'low' | 'medium' | 'high' | 'critical';
export const ALERT_SEVERITIES: readonly AlertSeverity[] = ['low', 'medium', 'high', 'critical'];

/** Where an alert is in its life. */
export type AlertState = 'firing' | 'acknowledged' | 'resolved';

/** Why a notification is sent. */
export type NotificationKind = 'firing' | 'resolved' | 'acknowledged' | 'repeat';

/** One alert: a rule firing for one (endpoint, app, result) or one system subject, while it is active. */
export interface Alert {
  /** Stable while the alert is active: `<rule>|<endpoint or system subject>|<app>|<result>`, hashed or escaped by the evaluator. */
  id: string;
  rule: string;
  severity: AlertSeverity;
  state: AlertState;
  /** The endpoint name (absent for system alerts about no endpoint, e.g. a runner down). */
  endpoint?: string;
  app?: string;
  /** The result or metric name. */
  result?: string;
  /** One line for humans: what is wrong, e.g. "data drift detected on churn/histogram-data-drift/general_drift (0.71 >= 0.5) in 2 consecutive windows". */
  summary: string;
  /** The value that made it fire (the last window's), and the threshold it crossed, when the rule has one. */
  value?: number;
  threshold?: number;
  /** The result's status in the last window (0-3: irrelevant, no detection, potential, detected), when a result. */
  status?: number;
  /** Start (ms) of each window that made it fire, oldest first (bounded: the last 20). */
  windows: number[];
  /** The last of those windows: [start, end) in ms. */
  windowStart?: number;
  windowEnd?: number;
  /** The endpoint's labels, the rule's labels: what routing matches on. */
  labels: Record<string, string>;
  /** When it started firing, when it was acknowledged / resolved (ms since the epoch). */
  startsAt: number;
  acknowledgedAt?: number;
  acknowledgedBy?: string;
  resolvedAt?: number;
}

/** What the evaluator hands to the notifier: one alert's transition. */
export interface AlertNotification {
  /** Unique per alert and transition (`<alert id>:<kind>:<n>`): the idempotency key receivers dedupe on. */
  key: string;
  kind: NotificationKind;
  alert: Alert;
  /** The channels the rule names (empty: the notifier routes by severity and labels alone). */
  channels: string[];
  /** When the transition happened (ms since the epoch). */
  at: number;
}

/**
 * Takes notifications for delivery. `enqueue` resolves once the notification is stored durably
 * (a host killed after it resolves still delivers it, exactly once per channel as receivers
 * count idempotency keys); it never waits for a receiver.
 */
export interface Notifier {
  enqueue(notification: AlertNotification): Promise<void>;
}
