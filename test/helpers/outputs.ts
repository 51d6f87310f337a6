import type { JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Subjects, type AppOutputMessage, type TaskMessage, type WindowStoredMessage } from '@modelwatch/protocol';
import { windowOutput, type OutputWindow } from '../../host/src/domain/outputs.js';
import { outputBinding, outputMsgId, type BindingKey } from '../../host/src/domain/binding.js';
import { endpointId } from '../../host/src/domain/names.js';
import { jsonCodec } from '../../host/src/nats/codec.js';

/**
 * An output of one window as a test stores or publishes it: the runner's `windowOutput` (outcome
 * `ok`, version 1.0.0 unless given), by runner `test` on its first try, completed at the window's
 * end after 1 ms; `fill` sets the rest (rows, results, metrics, outcome...).
 */
export function testOutput(w: Omit<OutputWindow, 'version'> & { version?: string }, fill: Partial<AppOutputMessage> = {}): AppOutputMessage {
  return { ...windowOutput({ version: '1.0.0', ...w }, { runner: 'test', attempts: 1 }), durationMs: 1, completedAt: w.windowEnd, ...fill };
}

/** One result of an app's output, as a test writes it. */
export interface TestResult {
  name: string;
  value: number;
  status: number;
}

/**
 * Publish apps' outputs to `MW_OUTPUTS` as a runner does, bound as the controller binds their
 * tasks: window `n` of an endpoint is `[t0 + n x periodMs, t0 + (n + 1) x periodMs)`. Resolves
 * with the output's stream sequence.
 */
export function outputPublisher(js: JetStreamClient, key: BindingKey, opts: { app: string; periodMs: number; t0: number }) {
  return async (
    endpoint: string,
    window: number,
    results: readonly TestResult[],
    as: Partial<Pick<AppOutputMessage, 'outcome' | 'rows' | 'error' | 'results'>> = {},
  ): Promise<number> => {
    const w = {
      endpointId: endpointId(endpoint),
      endpointName: endpoint,
      app: opts.app,
      version: '1.0.0',
      windowStart: opts.t0 + window * opts.periodMs,
      windowEnd: opts.t0 + (window + 1) * opts.periodMs,
    };
    const binding = outputBinding(key, w);
    const out = testOutput(w, {
      rows: 100,
      results: results.map((r) => ({ ...r, kind: 0, status: r.status as 0 | 1 | 2 | -1, extraData: {} })),
      completedAt: Date.now(),
      binding,
      ...as,
    });
    return (await js.publish(Subjects.outputs(w.endpointId), jsonCodec.encode(out), { msgID: outputMsgId(w, binding) })).seq;
  };
}

/** A window's key in stored notices, queries and the live feed: endpoint, app and start. */
export const windowKey = (w: { endpointId: string; app: string; windowStart: number }) => `${w.endpointId}|${w.app}|${w.windowStart}`;

/**
 * The stored notices (`mw.stored.>`) of every writer, counted by {@link windowKey} from now
 * (the subscription is flushed) until `stop()`.
 */
export async function countStoredNotices(nc: NatsConnection): Promise<{ counts: Map<string, number>; stop(): void }> {
  const counts = new Map<string, number>();
  const sub = nc.subscribe(Subjects.storedAll, {
    callback: (_err, m) => {
      const k = windowKey(jsonCodec.decode<WindowStoredMessage>(m.data).output);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    },
  });
  await nc.flush();
  return { counts, stop: () => sub.unsubscribe() };
}

/** A `row-count` task (v1) of endpoint `name` for a window of `periodMs` ten periods ago, as a controller dispatches it (unbound). */
export function rowCountTask(name: string, periodMs: number): TaskMessage {
  const windowStart = Math.floor(Date.now() / periodMs) * periodMs - 10 * periodMs;
  return {
    v: 1,
    endpointId: endpointId(name),
    endpointName: name,
    app: 'row-count',
    version: '1.0.0',
    windowStart,
    windowEnd: windowStart + periodMs,
    dispatchedAt: Date.now(),
  };
}
