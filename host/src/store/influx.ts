import { InfluxDB, type WriteApi } from '@influxdata/influxdb-client';
import type { OutboxPoint } from './results-db.js';

export interface InfluxTarget {
  url: string;
  token: string;
  org: string;
  bucket: string;
}

/** Writes points with `@influxdata/influxdb-client` (InfluxDB v2 write API); retries are the caller's. */
export class InfluxWriter {
  private readonly api: WriteApi;

  constructor(target: InfluxTarget) {
    this.api = new InfluxDB({ url: target.url, token: target.token, timeout: 10_000 }).getWriteApi(target.org, target.bucket, 'ms', {
      maxRetries: 0,
      batchSize: 10_000,
      flushInterval: 0,
      // No retries or buffering of its own: a failed flush rejects and the outbox keeps the points.
      maxBufferLines: 100_000,
    });
  }

  /** Write the points; resolves once the TSDB accepted them. */
  async write(points: OutboxPoint[]): Promise<void> {
    const lines: string[] = [];
    for (const p of points) {
      const line = lineOf(p);
      if (line) lines.push(line);
    }
    this.api.writeRecords(lines);
    await this.api.flush(true);
  }

  async close(): Promise<void> {
    try {
      await this.api.close();
    } catch {
      /* points are still in the outbox */
    }
  }
}

/**
 * A tag key, tag value or field key in line protocol: a backslash doubled (so a name ending in
 * one cannot escape the comma, space or equals sign after it: the client's `Point` leaves it
 * as it is), then comma, equals sign and space escaped. Line protocol cannot carry a newline or
 * carriage return: they are written as the two characters `\n`, `\r` (names never hold them:
 * endpoint, app, result and metric names are checked, feature names refuse control characters).
 */
export function escapeKey(s: string): string {
  return s
    .replace(/[\\,= ]/g, (c) => `\\${c}`)
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r');
}

/** A measurement name in line protocol: backslash, comma and space escaped. */
function escapeMeasurement(s: string): string {
  return s
    .replace(/[\\, ]/g, (c) => `\\${c}`)
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r');
}

/** One point as a line of line protocol (ms precision), or undefined when it has no finite field. */
export function lineOf(p: OutboxPoint): string | undefined {
  const tags = Object.entries(p.tags)
    .filter(([k, v]) => k !== '' && v !== '')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `,${escapeKey(k)}=${escapeKey(v)}`)
    .join('');
  const fields = Object.entries(p.fields)
    .filter(([k, v]) => k !== '' && Number.isFinite(v))
    .map(([k, v]) => `${escapeKey(k)}=${k === 'status' && Number.isInteger(v) ? `${v}i` : String(v)}`)
    .join(',');
  if (!fields) return undefined;
  return `${escapeMeasurement(p.measurement)}${tags} ${fields} ${Math.round(p.time)}`;
}
