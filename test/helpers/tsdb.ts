import { spawn } from 'node:child_process';
import { freePort } from '../../host/src/nats/server.js';
import { tempDir, waitFor } from './tmp.js';

export interface ExportedSeries {
  metric: Record<string, string>;
  values: number[];
  timestamps: number[];
}

/** A real VictoriaMetrics server: it accepts InfluxDB's v2 write API; points are read back through its export API. */
export interface TestTsdb {
  url: string;
  /** Every series whose name matches the regex, with all its samples. */
  exportSeries(nameRegex: string, startSec?: number): Promise<ExportedSeries[]>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startTestTsdb(): Promise<TestTsdb> {
  const dir = await tempDir('mw-vm-');
  const port = await freePort();
  const child = spawn(
    'victoria-metrics',
    [
      `-storageDataPath=${dir.path}`,
      `-httpListenAddr=127.0.0.1:${port}`,
      '-retentionPeriod=100y',
      // InfluxDB's semantics: a point with the same series and timestamp replaces the old one.
      '-dedup.minScrapeInterval=1ms',
      '-loggerLevel=ERROR',
    ],
    { stdio: 'ignore' },
  );
  child.once('error', (err) => {
    throw new Error(`victoria-metrics could not start (apt-get install victoria-metrics): ${err.message}`);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    // (no pid: it never ran)
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await dir[Symbol.asyncDispose]();
  };
  try {
    await waitFor('victoria-metrics to listen', async () => ((await fetch(`${url}/health`)).ok ? true : undefined), 20_000, 50);
  } catch (err) {
    // no server left running, no store left behind
    await stop();
    throw err;
  }
  return {
    url,
    async exportSeries(nameRegex, startSec = 0) {
      await fetch(`${url}/internal/force_flush`);
      const q = new URLSearchParams({ 'match[]': `{__name__=~"${nameRegex}"}`, start: String(startSec) });
      const res = await fetch(`${url}/api/v1/export?${q}`);
      if (!res.ok) throw new Error(`export failed: ${res.status} ${await res.text()}`);
      const text = await res.text();
      return text
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => JSON.parse(l) as ExportedSeries);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
