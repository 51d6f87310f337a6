/**
 * The results store checked and rebuilt from `MW_OUTPUTS` at start. The stream keeps every
 * output as long as the store keeps its window (no age limit; an endpoint's purge removes both),
 * so whatever the store lost can be stored again from it:
 *
 * - the store records the highest stream sequence it stored (`m/applied`) and how many windows it
 *   stored (`m/windows`) in the batch of each window; at start, a store that holds fewer windows
 *   than it recorded (LevelDB drops a damaged log record when it opens, and carries on) is
 *   rebuilt from the whole stream, and one whose applied sequence is behind the writer's
 *   acknowledged floor (the tail of its log lost) gets the outputs after it again;
 * - a store LevelDB cannot open is rebuilt into a new folder from the whole stream, and the
 *   damaged one kept beside it (`results.damaged-<time>`); if that fails too, the host refuses to
 *   start, naming the folder and what to do.
 *
 * Storing is idempotent (a window is stored once), so replaying an output the store has is harmless.
 * A replay stores as the live writer does: the outputs between two purges in LevelDB batches of
 * `batchSize`, each checked as the live writer checks it (`storableOutput`: valid, its binding
 * verified, stored without it), so a rebuilt store holds what the live one does.
 */
import { rename, rm } from 'node:fs/promises';
import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { Consumers, Streams, type AppOutputMessage } from '@modelwatch/protocol';
import type { BindingKey } from '../domain/binding.js';
import { ModelwatchError } from '../errors.js';
import type { Logger } from '../logger.js';
import { ResultsDb } from '../store/results-db.js';
import { decodePurge, isPurgeSubject, storableOutput } from './messages.js';

export interface RecoveryDeps {
  js: JetStreamClient;
  logger: Logger;
  /** Whether stored windows put their points in the TSDB outbox (a TSDB is configured). */
  withOutbox: boolean;
  /** The writer's consumer on MW_OUTPUTS, whose acknowledged floor the store is checked against. @default 'writer' */
  consumer?: string;
  /** The host's output binding key: outputs whose binding does not verify are refused, as the live writer refuses them. */
  bindingKey?: BindingKey;
  /** At most this many outputs stored in one LevelDB batch (the live writer's `batchSize`). @default 1024 */
  batchSize?: number;
}

/** What a check at start did. */
export interface RecoveryReport {
  /** Why outputs were stored again, or undefined when the store was whole. */
  reason?: string;
  replayed: number;
  stored: number;
  /** Outputs whose binding did not verify (the live writer refused them too). */
  refused: number;
}

/**
 * Open the results store at `path`; when LevelDB cannot open it, rebuild it from MW_OUTPUTS into
 * a new folder and keep the damaged one aside. Throws a `ModelwatchError` naming the folder when
 * neither works.
 */
export async function openResultsDb(path: string, deps: RecoveryDeps): Promise<ResultsDb> {
  const db = new ResultsDb(path);
  let openError: Error;
  try {
    await db.open();
    return db;
  } catch (err) {
    openError = err as Error;
  }
  const detail = [openError.message, (openError.cause as Error | undefined)?.message].filter(Boolean).join(': ');
  const log = deps.logger.child({ component: 'writer' });
  log.error({ dir: path, err: detail }, 'the results store cannot be opened; rebuilding it from MW_OUTPUTS');
  const fresh = `${path}.rebuild`;
  try {
    await rm(fresh, { recursive: true, force: true });
    const rebuilt = new ResultsDb(fresh);
    await rebuilt.open();
    try {
      const { floor } = await ackFloor(deps.js, deps.consumer);
      const state = await streamState(deps.js);
      if (floor > 0 && state.messages === 0) throw new Error(`the writer acknowledged ${floor} outputs and MW_OUTPUTS holds none of them`);
      const r = await replay(deps, rebuilt, 1, Math.max(floor, state.last_seq));
      log.warn({ dir: path, ...r }, 'results store rebuilt from MW_OUTPUTS');
    } finally {
      await rebuilt.close();
    }
    const aside = `${path}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await rename(path, aside);
    await rename(fresh, path);
    log.warn({ dir: path, damaged: aside }, 'the damaged results store was kept aside; remove it once you no longer need it');
  } catch (err) {
    await rm(fresh, { recursive: true, force: true }).catch(() => undefined);
    throw new ModelwatchError(
      'INTERNAL',
      `the results store ${path} cannot be opened (${detail}) and could not be rebuilt from the MW_OUTPUTS stream (${(err as Error).message}). ` +
        `Restore ${path} from a backup, or move it aside to start with an empty store (the windows it held are then lost).`,
      { cause: err },
    );
  }
  const again = new ResultsDb(path);
  await again.open();
  return again;
}

/**
 * Check an open store against what the writer acknowledged, and store again from MW_OUTPUTS the
 * outputs it lacks. Runs before the writer consumes.
 */
export async function recoverResults(deps: RecoveryDeps & { db: ResultsDb }): Promise<RecoveryReport> {
  const { db } = deps;
  const log = deps.logger;
  const { floor } = await ackFloor(deps.js, deps.consumer);
  const applied = db.appliedSeq();
  const { recorded, held } = await db.checkCount();
  let from: number | undefined;
  let reason: string | undefined;
  if (held < recorded) {
    reason = `the store holds ${held} windows of the ${recorded} it stored`;
    from = 1;
  } else if (applied === undefined && floor > 0) {
    reason = `the store has no record of the outputs it stored, and the writer acknowledged ${floor}`;
    from = 1;
  } else if (applied !== undefined && applied < floor) {
    reason = `the store's last output is ${applied}, and the writer acknowledged up to ${floor}`;
    from = applied + 1;
  }
  if (from === undefined) return { replayed: 0, stored: 0, refused: 0 };
  log.warn({ reason, from, to: floor }, 'results store behind MW_OUTPUTS: storing the missing outputs again');
  const r = await replay(deps, db, from, floor);
  await db.recount();
  log.warn({ reason, ...r }, 'results store caught up with MW_OUTPUTS');
  return { reason, ...r };
}

async function ackFloor(js: JetStreamClient, name: string = Consumers.writer): Promise<{ floor: number }> {
  const consumer = await js.consumers.get(Streams.outputs, name);
  return { floor: (await consumer.info()).ack_floor.stream_seq };
}

async function streamState(js: JetStreamClient) {
  return (await (await js.streams.get(Streams.outputs)).info()).state;
}

/**
 * Store the outputs of MW_OUTPUTS from sequence `from` through `to` (those the stream still holds),
 * in batches: the outputs read are stored together (up to `batchSize`, never across a purge) while
 * the next ones are read; a purge is applied once the outputs before it are stored.
 */
export async function replay(deps: RecoveryDeps, db: ResultsDb, from: number, to: number): Promise<Omit<RecoveryReport, 'reason'>> {
  const report = { replayed: 0, stored: 0, refused: 0 };
  const state = await streamState(deps.js);
  const end = Math.min(to, state.last_seq);
  if (state.messages === 0 || end < Math.max(from, state.first_seq)) return report;
  if (from < state.first_seq) {
    deps.logger.warn({ from, first: state.first_seq }, 'outputs before the first MW_OUTPUTS holds are gone (purged with their endpoints): not replayed');
  }
  const batchSize = Math.max(1, deps.batchSize ?? 1024);
  const consumer = await deps.js.consumers.get(Streams.outputs, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: Math.max(from, state.first_seq),
  });
  const messages = await consumer.consume({ max_messages: Math.max(512, batchSize) });
  let pending: Array<{ out: AppOutputMessage; seq: number }> = [];
  // the batch being stored while the next is read, one at a time; its failure fails the replay
  let storing: Promise<void> = Promise.resolve();
  let failure: { err: unknown } | undefined;
  const stored = async () => {
    await storing;
    if (failure) throw failure.err;
  };
  const flush = async () => {
    await stored();
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    storing = db.storeMany(batch, deps.withOutbox).then(
      (outcomes) => {
        for (const o of outcomes) if (o === 'stored') report.stored++;
      },
      (err: unknown) => {
        failure = { err };
      },
    );
  };
  try {
    for await (const m of messages) {
      if (m.seq > end) break;
      report.replayed++;
      try {
        if (isPurgeSubject(m.subject)) {
          // an endpoint's purge among the outputs: what came before it of the endpoint is removed
          const { endpointId } = decodePurge(m.data, m.subject);
          await flush();
          await stored();
          await db.purgeEndpoint(endpointId);
        } else {
          const { out, refused } = storableOutput(m.data, m.subject, deps.bindingKey);
          if (refused) report.refused++;
          else pending.push({ out, seq: m.seq });
          if (pending.length >= batchSize) await flush();
        }
      } catch (err) {
        if ((err as Error).name !== 'InvalidMessageError') throw err;
        // not an output: it was dead-lettered when it came
      }
      if (m.seq >= end || m.info.pending === 0) break;
    }
    await flush();
    await stored();
  } finally {
    // nothing left being stored when the replay ends (a failure thrown above)
    await storing;
    await Promise.resolve(messages.close()).catch(() => undefined);
  }
  return report;
}
