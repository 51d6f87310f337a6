// The backlog the writer benches store: `count` app outputs of 20 endpoints x 1 app, one-second
// windows a day back, 1 result each, a fifth of them empty, from a seeded generator. `uniform`
// continues that generator (writer-throughput shuffles the backlog with it).
import { endpointId } from '../../host/dist/domain/names.js';

export function benchOutputs(count, endpoints = 20) {
  const t0 = Math.floor(Date.now() / 1000) * 1000 - 86_400_000;
  let seed = 5;
  const uniform = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
  const outputs = [];
  for (let i = 0; i < count; i++) {
    const e = i % endpoints;
    const w = Math.floor(i / endpoints);
    const empty = uniform() < 0.2;
    outputs.push({
      v: 1,
      endpointId: endpointId(`e${e}`),
      endpointName: `e${e}`,
      app: 'bench',
      version: '1.0.0',
      windowStart: t0 + w * 1000,
      windowEnd: t0 + (w + 1) * 1000,
      outcome: empty ? 'empty' : 'ok',
      rows: empty ? 0 : 100,
      results: empty ? [] : [{ name: 'drift', value: uniform(), kind: 0, status: 0 }],
      metrics: [],
      durationMs: 1,
      completedAt: Date.now(),
      runner: 'bench',
      attempts: 1,
    });
  }
  return { outputs, uniform };
}
