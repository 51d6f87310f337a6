/**
 * The worker-thread side of {@link FilingWorkers} (`filing-workers.ts`): files a batch of event
 * messages ({@link fileBatch}) off the processor's event loop. The row chunks it encodes are
 * moved back, not copied.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { fileBatch, type FilingTask } from './filing.js';

export default function run(task: FilingTask): unknown {
  const filed = fileBatch(task);
  const buffers = [...new Set(filed.rows.map((r) => r.data.buffer as ArrayBuffer))];
  return move({
    get [transferableSymbol]() {
      return buffers;
    },
    get [valueSymbol]() {
      return filed;
    },
  });
}
