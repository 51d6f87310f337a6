import { InfluxDB, Point, type WriteApi } from '@influxdata/influxdb-client';
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
    for (const p of points) {
      const point = new Point(p.measurement).timestamp(new Date(p.time));
      for (const [k, v] of Object.entries(p.tags)) point.tag(k, v);
      for (const [k, v] of Object.entries(p.fields)) {
        if (k === 'status') point.intField(k, v);
        else point.floatField(k, v);
      }
      this.api.writePoint(point);
    }
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
