import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { ClosedConnectionError, ConnectionError, DrainingConnectionError, NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';

/** NATS failures told apart by the client's typed errors (never by their messages). */

/** A JetStream API answer that the stream or the consumer asked for does not exist. */
export function isNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamNotFound || err.code === JetStreamApiCodes.ConsumerNotFound);
}

/**
 * A publish refused because its subject's last message is not the one it expected
 * (`expect.lastSubjectSequence`, and so a KV `create` or `update` that lost a compare-and-set):
 * another was stored in between.
 */
export function isWrongLastSequence(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** A request nobody subscribes to: no service (no runner, say) is listening on its subject. */
export function isNoResponders(err: unknown): boolean {
  return err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders());
}

/** A request or operation that got no answer in time. */
export function isTimeout(err: unknown): boolean {
  return err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError);
}

/**
 * A failure of NATS itself that passes: no answer in time, no responder (a stream's leader being
 * elected), the connection lost or closing, or JetStream unavailable (a 503: no quorum, out of
 * resources). A JetStream refusal of the request itself (a 4xx: a message over the stream's
 * `max_msg_size`, a wrong last sequence) and an error of the caller's own would come again.
 * The error's `cause` chain is looked through.
 */
export function isTransient(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (isTimeout(e) || isNoResponders(e)) return true;
    if (e instanceof ClosedConnectionError || e instanceof DrainingConnectionError || e instanceof ConnectionError) return true;
    if (e instanceof JetStreamApiError) return e.status >= 500;
  }
  return false;
}
