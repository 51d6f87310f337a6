/**
 * MLRun's batched form, `{ headers, values, ...common }`: what its serving functions push when
 * `stream_batch > 1`; one MLRun event per value row (the headers name the fields of a row).
 */
import { isObject, type MessageFormat } from './common.js';

export const mlrunBatched: MessageFormat = {
  name: 'mlrun-batched',
  detect: (body) => isObject(body) && Array.isArray(body.headers) && Array.isArray(body.values) && body.inputs === undefined,
  unpack(body) {
    const b = body as Record<string, unknown>;
    const headers = b.headers as unknown[];
    const { headers: _h, values: _v, ...base } = b;
    return (b.values as unknown[]).map((row, index) => {
      if (!Array.isArray(row)) return { event: row, index };
      const ev: Record<string, unknown> = { ...base };
      headers.forEach((h, j) => {
        if (typeof h === 'string') ev[h] = row[j];
      });
      return { event: ev, index };
    });
  },
};
