import type { CommandModule } from 'yargs';
import { clientOf } from '../connect.js';
import { countOption, type GlobalArgs } from '../args.js';
import { printJson, printTable } from '../format.js';

/** `modelwatch dlq list|show|replay`: the dead letters (rejected input) and replaying them. */
export const dlqCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'dlq <command>',
  describe: 'dead letters: input that was rejected, with its reason and original payload',
  builder: (y) =>
    y
      .command<GlobalArgs & { endpoint?: string; reason?: string; limit: number }>(
        'list',
        'list dead letters, newest first, with the counts per endpoint and reason',
        (b) =>
          b
            .option('endpoint', { type: 'string', describe: 'only this endpoint' })
            .option('reason', {
              type: 'string',
              describe: 'only this reason (INVALID_JSON, INVALID_EVENT, UNKNOWN_ENDPOINT, FUTURE_EVENT, LATE_EVENT, OVERSIZED, INVALID_BATCH)',
            })
            .option('limit', countOption('limit', { default: 20, describe: 'newest letters, at most this many' }))
            .example('$0 dlq list --endpoint churn --limit 5', ''),
        async (args) => {
          const r = await clientOf(args).deadLetters({
            ...(args.endpoint ? { endpoint: args.endpoint } : {}),
            ...(args.reason ? { reason: args.reason } : {}),
            limit: args.limit,
          });
          if (args.json) return printJson(r);
          const counts = Object.entries(r.counts).flatMap(([ep, byCode]) =>
            Object.entries(byCode).map(([code, n]) => [ep, code, n] as [string, string, number]),
          );
          if (counts.length === 0) {
            process.stdout.write('no dead letters\n');
            return;
          }
          printTable(['endpoint', 'reason', 'letters'], counts);
          printTable(
            ['seq', 'received', 'endpoint', 'reason', 'source', 'message'],
            r.letters.map((l) => [
              l.seq,
              l.time,
              l.endpoint,
              l.reason.code,
              `${l.source}${l.index !== undefined ? ` #${l.index}` : ''}`,
              clip(l.reason.message, 90),
            ]),
          );
          process.stdout.write(`${r.letters.length} of ${r.total} shown; modelwatch dlq show SEQ for one with its payload\n`);
        },
      )
      .command<GlobalArgs & { seq: number }>(
        'show <seq>',
        'show one dead letter with its reason and original payload',
        (b) => b.positional('seq', { type: 'number', demandOption: true }),
        async (args) => {
          const l = await clientOf(args).deadLetter(args.seq);
          if (args.json) return printJson(l);
          process.stdout.write(
            [
              `seq:       ${l.seq} (${l.subject})`,
              `received:  ${l.time}`,
              `endpoint:  ${l.endpoint}`,
              `reason:    ${l.reason.code}: ${l.reason.message}`,
              `source:    ${l.source}${l.index !== undefined ? `, event #${l.index} of the payload` : ''}${l.batch ? `, batch ${l.batch}` : ''}`,
              `payload:   ${l.payloadEncoding === 'base64' ? '(base64) ' : ''}${l.truncated ? `(first ${l.payload.length} of ${l.payloadBytes} bytes) ` : ''}`,
              l.payload,
              '',
            ].join('\n'),
          );
        },
      )
      .command<GlobalArgs & { seqs?: number[]; endpoint?: string; 'include-late': boolean }>(
        'replay [seqs..]',
        'publish dead letters again (the given ones, or all of an endpoint) and remove them from the DLQ',
        (b) =>
          b
            .positional('seqs', { type: 'number', array: true, describe: 'dead-letter sequences (default: every letter of --endpoint, or all)' })
            .option('endpoint', { type: 'string', describe: 'only this endpoint' })
            .option('include-late', { type: 'boolean', default: false, describe: 'replay LATE_EVENT letters too (they will be late again unless named)' })
            .example('$0 dlq replay --endpoint churn', 'after fixing the endpoint, e.g. creating it or its features')
            .example('$0 dlq replay 812 813', ''),
        async (args) => {
          const r = await clientOf(args).replayDeadLetters({
            ...(args.endpoint ? { endpoint: args.endpoint } : {}),
            ...(args.seqs?.length ? { seqs: args.seqs } : {}),
            includeLate: args['include-late'],
          });
          if (args.json) return printJson(r);
          process.stdout.write(`replayed ${r.replayed.length} dead letter(s)${r.skipped.length ? `, skipped ${r.skipped.length}:` : ''}\n`);
          for (const s of r.skipped.slice(0, 20)) process.stdout.write(`  ${s.seq}: ${s.reason}\n`);
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 3)}...` : s;
}
