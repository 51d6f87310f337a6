import { useState } from 'preact/hooks';
import { api, can, fmtTime, type Session } from './api.js';
import { Page, useLoaded } from './page.js';
import { Table } from './table.js';

interface Letter {
  seq: number;
  endpoint: string;
  reason: { code: string; message: string };
  source: string;
  receivedAt: number;
  payload: string;
  payloadEncoding: 'utf8' | 'base64';
  truncated?: boolean;
}

interface LetterList {
  total: number;
  counts: Record<string, Record<string, number>>;
  letters: Letter[];
}

export function DeadLettersPage({ session }: { session: Session }) {
  const [open, setOpen] = useState<Letter>();
  const page = useLoaded(() => api<LetterList>('/api/v1/dlq?limit=200'));
  const replay = (body: { seqs?: number[]; endpoint?: string }) =>
    page.act(
      () => api<{ replayed?: number }>('/api/v1/dlq/replay', { method: 'POST', body }),
      (r) => `replayed: ${JSON.stringify(r)}`,
    );
  const write = can(session, 'write');
  return (
    <Page title="Dead letters" loaded={page}>
      {(list) => (
        <>
          <p>{list.total} held.</p>
          <Table
            caption="Counts by endpoint and reason"
            head={['Endpoint', 'Reasons']}
            rows={Object.entries(list.counts)}
            cells={([ep, reasons]) => (
              <>
                <td>{ep}</td>
                <td>
                  {Object.entries(reasons)
                    .map(([r, n]) => `${r}: ${n}`)
                    .join(', ')}
                </td>
              </>
            )}
            actions={([ep]) =>
              write && (
                <button type="button" onClick={() => void replay({ endpoint: ep })}>
                  Replay all
                </button>
              )
            }
          />
          <Table
            caption="Letters"
            head={['Seq', 'Received', 'Endpoint', 'Reason']}
            rows={list.letters}
            cells={(l) => (
              <>
                <td>{l.seq}</td>
                <td>{fmtTime(l.receivedAt)}</td>
                <td>{l.endpoint}</td>
                <td>
                  {l.reason.code}: {l.reason.message}
                </td>
              </>
            )}
            actions={(l) => (
              <>
                <button type="button" onClick={() => setOpen(l)}>
                  Payload
                </button>
                {write && (
                  <button type="button" onClick={() => void replay({ seqs: [l.seq] })}>
                    Replay
                  </button>
                )}
              </>
            )}
          />
          {open && (
            <div class="payload">
              <h2>Payload of letter {open.seq}</h2>
              <pre>{open.payloadEncoding === 'base64' ? `(base64) ${open.payload}` : open.payload}</pre>
              {open.truncated && <p>Cut at 1 MiB.</p>}
              <button type="button" onClick={() => setOpen(undefined)}>
                Close
              </button>
            </div>
          )}
        </>
      )}
    </Page>
  );
}
