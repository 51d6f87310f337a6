import type { CellValue } from '@modelwatch/sdk';
import { MAX_ROW_ID_LENGTH, type EndpointRecord } from '@modelwatch/protocol';
import { InvalidEventError } from '../errors.js';
import { dict } from './dict.js';
import { checkRequestId } from './names.js';

export interface NormalizedLabel {
  requestId: string;
  labels: Record<string, CellValue>;
}

/** Validate a ground-truth event (`GroundTruthEvent`) against its endpoint's outputs. */
export function normalizeLabel(raw: unknown, endpoint: EndpointRecord): NormalizedLabel {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidEventError('a label must be a JSON object');
  const r = raw as Record<string, unknown>;
  if (typeof r.requestId !== 'string' || r.requestId === '') throw new InvalidEventError('requestId: missing (the request id of the prediction)');
  // (a row's id too: `<requestId>#<row>`)
  checkRequestId(r.requestId, 'requestId', MAX_ROW_ID_LENGTH);
  const names = endpoint.labelNames;
  const labels = dict<CellValue>();
  if (r.labels !== undefined) {
    if (typeof r.labels !== 'object' || r.labels === null || Array.isArray(r.labels))
      throw new InvalidEventError('labels: expected an object of output name -> value');
    for (const [k, v] of Object.entries(r.labels)) {
      if (!names.includes(k)) throw new InvalidEventError(`labels: unknown output '${k}' (the endpoint has ${names.join(', ') || 'none yet'})`);
      labels[k] = cellOf(v, `labels.${k}`);
    }
  } else if ('label' in r) {
    if (names.length !== 1) throw new InvalidEventError(`label: the endpoint has ${names.length} outputs; send labels: { name: value }`);
    labels[names[0]!] = cellOf(r.label, 'label');
  } else throw new InvalidEventError('labels: missing (labels: { output: value } or label: value)');
  return { requestId: r.requestId, labels };
}

function cellOf(v: unknown, path: string): CellValue {
  if (v === null) return null;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new InvalidEventError(`${path}: not a finite number`);
    return v;
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new InvalidEventError(`${path}: expected a number, string, boolean or null`);
}
