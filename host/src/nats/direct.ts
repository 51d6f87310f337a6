/**
 * A stream's last message on a subject by a direct get (raw bytes, answered by any replica), or by
 * the leader's get when the stream does not allow direct gets. A stream made without
 * `allow_direct` (MW_ROWS before a host of this version ran `ensureTopology`, an object store made
 * by an older client) does not answer a direct get at all: nats-server 2.9 lets it time out. That
 * is remembered per stream for RECHECK_MS (the stream may be updated meanwhile), so only the first
 * get in that time waits for the timeout.
 */
import type { JetStreamManager, StoredMsg } from '@nats-io/jetstream';

const RECHECK_MS = 60_000;
/** Streams whose direct gets failed, with until when the leader's get is used instead. */
const noDirect = new Map<string, number>();

export async function lastBySubject(jsm: JetStreamManager, stream: string, subject: string): Promise<StoredMsg | null> {
  const until = noDirect.get(stream);
  if (until === undefined || Date.now() >= until) {
    try {
      const m = await jsm.direct.getMessage(stream, { last_by_subj: subject });
      noDirect.delete(stream);
      return m;
    } catch {
      // a timeout, no responders or a 503: no direct gets here (any other failure the leader's get reports too)
      noDirect.set(stream, Date.now() + RECHECK_MS);
    }
  }
  return await jsm.streams.getMessage(stream, { last_by_subj: subject });
}
