import type { FastifyInstance } from 'fastify';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Consumers, Streams } from '@modelwatch/protocol';
import { topologyStreams } from '../nats/topology.js';
import { withinOrFail } from '../clock.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The route answers without credentials and whatever the Host header: the orchestrator's
     * probes (`/healthz`, `/readyz`) call it by the pod's address and carry no token. An
     * authentication hook, or a check of the Host header, must let such routes through.
     */
    public?: boolean;
  }
}

/** One check of `/readyz`: the name of what was checked, whether it is ready, and why not. */
export interface ReadinessCheck {
  name: string;
  ok: boolean;
  message: string;
}

/** What `/readyz` answers (with 200 when `ready`, else 503). */
export interface Readiness {
  ready: boolean;
  /** The names of the checks that failed. */
  failed: string[];
  checks: ReadinessCheck[];
}

/** A check of one role of this process; it should answer within a few hundred milliseconds. */
export type ReadinessProbe = () => Promise<Omit<ReadinessCheck, 'name'>>;

export interface ProbeDeps {
  version: string;
  /** The checks of the roles this process runs, by name, in the order they are reported. */
  probes: ReadonlyArray<readonly [string, ReadinessProbe]>;
  /** A check that does not answer within this is failed. @default 800 ms (Kubernetes waits 1 s by default) */
  timeoutMs?: number;
}

/** `GET /healthz` (liveness) and `GET /readyz` (readiness), outside `/api/v1`, as Kubernetes probes expect. */
export function registerProbeRoutes(app: FastifyInstance, deps: ProbeDeps): void {
  const timeoutMs = deps.timeoutMs ?? 800;
  // liveness: the process answers; nothing it depends on is asked (a NATS outage is not a reason to restart it)
  app.get('/healthz', { config: { public: true } }, async () => ({ ok: true, version: deps.version }));

  app.get('/readyz', { config: { public: true } }, async (_req, reply) => {
    const checks = await Promise.all(
      deps.probes.map(async ([name, probe]): Promise<ReadinessCheck> => {
        try {
          return { name, ...(await withinOrFail(probe(), timeoutMs, `no answer within ${timeoutMs} ms`)) };
        } catch (err) {
          return { name, ok: false, message: (err as Error).message };
        }
      }),
    );
    const failed = checks.filter((c) => !c.ok).map((c) => c.name);
    const body: Readiness = { ready: failed.length === 0, failed, checks };
    return reply.status(body.ready ? 200 : 503).send(body);
  });
}

/** The connection to NATS answers a ping. */
export function natsProbe(nc: NatsConnection): ReadinessProbe {
  return async () => {
    if (nc.isClosed()) return { ok: false, message: 'the NATS connection is closed' };
    try {
      const rtt = await withinOrFail(nc.rtt(), 500, 'no answer to a ping within 500 ms');
      return { ok: true, message: `NATS answers (round trip ${rtt.toFixed(1)} ms)` };
    } catch (err) {
      return { ok: false, message: `not connected to NATS at ${nc.getServer()}: ${(err as Error).message}` };
    }
  };
}

/** Every stream, KV bucket and object store modelwatch uses exists. */
export function streamsProbe(jsm: JetStreamManager): ReadinessProbe {
  return async () => {
    const present = new Set<string>();
    for await (const name of jsm.streams.names()) present.add(name);
    const missing = topologyStreams().filter((s) => !present.has(s));
    return missing.length ? { ok: false, message: `missing: ${missing.join(', ')}` } : { ok: true, message: `${topologyStreams().length} streams present` };
  };
}

/**
 * The controller role: `active` when this process holds the controller lease, else `standby`
 * (another process dispatches windows; this one takes over when that one's lease expires). Both are ready.
 */
export function controllerProbe(active: () => boolean): ReadinessProbe {
  return () =>
    Promise.resolve({
      ok: true,
      message: active() ? 'active: this process holds the controller lease' : 'standby: another process holds the controller lease',
    });
}

/**
 * The writer keeps up: the oldest app output it has not stored waits less than `maxLagMs`
 * (outputs waiting behind a slow or stuck writer are windows whose results nobody sees yet).
 */
export function writerProbe(jsm: JetStreamManager, maxLagMs = 60_000, refused?: () => number, consumer: string = Consumers.writer): ReadinessProbe {
  return async () => {
    const ci = await jsm.consumers.info(Streams.outputs, consumer);
    const waiting = ci.num_pending + ci.num_ack_pending;
    // outputs whose binding did not verify (forged, or of no dispatched task): refused, never stored
    const n = refused?.() ?? 0;
    const also = n > 0 ? `; ${n} output(s) refused since start (binding did not verify)` : '';
    if (waiting === 0) return { ok: true, message: `no output waiting${also}` };
    const oldest = await jsm.streams.getMessage(Streams.outputs, { seq: ci.ack_floor.stream_seq + 1 }).catch(() => null);
    const lagMs = oldest ? Date.now() - oldest.time.getTime() : 0;
    const message = `${waiting} output(s) waiting, the oldest for ${(lagMs / 1000).toFixed(1)} s`;
    return lagMs > maxLagMs ? { ok: false, message: `${message} (more than ${maxLagMs / 1000} s behind)${also}` } : { ok: true, message: `${message}${also}` };
  };
}

/** Every runner this process supervises is up and answers over NATS. */
export function runnersProbe(
  nc: NatsConnection,
  runners: () => ReadonlyArray<{ slot: number; pid: number | undefined; ping: string | undefined }>,
): ReadinessProbe {
  return async () => {
    const rs = runners();
    const problems = await Promise.all(
      rs.map(async (r) => {
        const which = `runner ${r.slot + 1}${r.pid ? ` (pid ${r.pid})` : ''}`;
        if (!r.ping) return `${which} is ${r.pid ? 'starting' : 'not running (it is restarted)'}`;
        try {
          await nc.request(r.ping, undefined, { timeout: 500 });
          return undefined;
        } catch {
          return `${which} did not answer over NATS within 500 ms`;
        }
      }),
    );
    const bad = problems.filter((p): p is string => p !== undefined);
    const summary = `${rs.length - bad.length} of ${rs.length} runner(s) answer`;
    return bad.length ? { ok: false, message: `${summary}: ${bad.join('; ')}` } : { ok: true, message: summary };
  };
}
