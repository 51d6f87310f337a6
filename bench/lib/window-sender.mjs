// The child process of bench/controller-capacity.mjs: sends one window's rows (one columnar batch
// per endpoint, a raw JetStream publish to mw.events.<name>) and watches the pipeline from
// outside the host's process, so the host's event loop does only the host's work. Its bodies are
// made before the window opens; it publishes them when it opens, then reports from the core
// subjects when each of the window's tasks was dispatched (mw.tasks.>), analysed (its output on
// mw.outputs.>) and stored (the writer's notice on mw.stored.>), and when the stream processor
// was done with the rows (its consumer on MW_EVENTS with nothing pending).
//
// Talks to its parent over the IPC channel: gets { natsUrl, names, rows, ws, period, lateness,
// expected, timeoutMs }, answers { ready }, then { sent }, then { done }, and ends when the
// parent disconnects.
import { loadavg } from 'node:os';
import { clearInterval, setInterval } from 'node:timers';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Consumers, Streams, Subjects } from '@modelwatch/protocol';

const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

process.once('message', async (job) => {
  const { natsUrl, names, rows, ws, period, lateness, expected, timeoutMs } = job;
  let seed = 11;
  const uniform = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
  const normal = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  const when = Array.from({ length: rows }, (_, i) => ws + Math.floor((i * (period - 2000)) / rows));
  // endpoints whose name ends in 7 drift: every feature shifted
  const bodies = names.map((name) =>
    JSON.stringify({
      format: 'columnar',
      when,
      inputs: Object.fromEntries(
        [
          ['a', normal],
          ['b', () => normal() * 3 + 10],
          ['c', uniform],
          ['d', normal],
        ].map(([f, gen]) => [f, Array.from({ length: rows }, () => gen() + (name.endsWith('7') ? 4 : 0))]),
      ),
      outputs: { y: Array.from({ length: rows }, uniform) },
    }),
  );
  const nc = await connect({ servers: natsUrl });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);

  // each step's first and last time, for the measured window only
  const step = () => ({ first: Infinity, last: -Infinity, keys: new Set() });
  const steps = { dispatched: step(), analysed: step(), stored: step() };
  const startOf = /"windowStart":(\d+)/;
  const keyOf = /"endpointId":"([^"]+)".*?"app":"([^"]+)"/s;
  const note = (s, data, at = Date.now()) => {
    const text = new TextDecoder().decode(data);
    if (Number(startOf.exec(text)?.[1]) !== ws) return undefined;
    const k = keyOf.exec(text);
    s.keys.add(k ? `${k[1]}/${k[2]}` : text);
    s.first = Math.min(s.first, at);
    s.last = Math.max(s.last, at);
    return text;
  };
  nc.subscribe(Subjects.tasksAll, { callback: (_e, m) => note(steps.dispatched, m.data) });
  nc.subscribe(Subjects.outputsAll, { callback: (_e, m) => note(steps.analysed, m.data) });
  const stored = [];
  nc.subscribe(Subjects.storedAll, {
    callback: (_e, m) => {
      const text = note(steps.stored, m.data);
      if (text === undefined) return;
      const { storedAt, output: o } = JSON.parse(text);
      stored.push({
        app: o.app,
        rows: o.rows,
        outcome: o.outcome,
        durationMs: o.durationMs,
        completedAt: o.completedAt,
        storedAt,
        drift: o.results.find((r) => r.name === 'general_drift')?.status,
      });
    },
  });
  await nc.flush();
  const loads = [];
  const sampling = setInterval(() => loads.push(loadavg()[0]), 1000);
  process.send({ ready: true });

  await sleep(ws + 50 - Date.now());
  const t = performance.now();
  const inflight = new Set();
  for (let i = 0; i < names.length; i++) {
    const p = js.publish(`mw.events.${names[i]}`, bodies[i]).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 64) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  process.send({ sent: { ms: performance.now() - t, at: Date.now() } });

  const closeAt = ws + period + lateness;
  let processorDoneAt;
  while (Date.now() - closeAt < timeoutMs && steps.stored.keys.size < expected) {
    if (processorDoneAt === undefined && Date.now() >= closeAt - lateness) {
      const ci = await jsm.consumers.info(Streams.events, Consumers.stream).catch(() => undefined);
      if (ci && ci.num_pending === 0 && ci.num_ack_pending === 0) processorDoneAt = Date.now();
    }
    await sleep(250);
  }
  clearInterval(sampling);
  const summary = (s) => ({ first: s.first, last: s.last, count: s.keys.size });
  process.send({
    done: {
      processorDoneAt,
      dispatched: summary(steps.dispatched),
      analysed: summary(steps.analysed),
      stored: summary(steps.stored),
      windows: stored,
      load: { min: Math.min(...loads), max: Math.max(...loads), now: loadavg() },
    },
  });
  await nc.close();
  // the parent disconnects once it has the report: then this process has nothing left and ends
});
