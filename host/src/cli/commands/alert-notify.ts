import { readFileSync } from 'node:fs';
import type { Argv } from 'yargs';
import { ModelwatchError } from '../../errors.js';
import { countOption, type GlobalArgs } from '../args.js';
import { clientOf } from '../connect.js';
import { iso, printJson, printTable } from '../format.js';

/**
 * `alert channel create|list|delete|test` and `alert history`: the notification half of
 * `modelwatch alert` (the rules half adds its own subcommands to the same group with this builder).
 */
export function alertNotifyCommands(y: Argv<GlobalArgs>): Argv<GlobalArgs> {
  return y
    .command<GlobalArgs>(
      'channel <command>',
      'alert notification channels: webhook, slack, email, nats, pagerduty, alertmanager (admin)',
      (c) =>
        c
          .command<GlobalArgs & { file: string; replace?: boolean }>(
            'create',
            'create a channel from a JSON file (see "Alert notifications" in the README); secrets may be ${ENV_VAR} references',
            (b) =>
              b
                .option('file', { type: 'string', demandOption: true, describe: 'the channel as JSON (- for standard input)' })
                .option('replace', { type: 'boolean', describe: 'replace a channel of that name' })
                .example('$0 alert channel create --file ops-webhook.json', 'a generic webhook'),
            async (args) => {
              const text = readFileSync(args.file === '-' ? 0 : args.file, 'utf8');
              let spec: unknown;
              try {
                spec = JSON.parse(text);
              } catch (err) {
                throw new ModelwatchError('INVALID_ARGUMENT', `${args.file}: not JSON (${(err as Error).message})`);
              }
              const c = await clientOf(args).createAlertChannel(spec as { name: string; type: string }, { replace: args.replace === true });
              if (args.json) return printJson(c);
              process.stdout.write(`alert channel '${c.name}' (${c.type}) ${args.replace ? 'saved' : 'created'}\n`);
            },
          )
          .command<GlobalArgs>(
            'list',
            'list the channels (secrets redacted)',
            (b) => b,
            async (args) => {
              const channels = await clientOf(args).listAlertChannels();
              if (args.json) return printJson(channels);
              printTable(
                ['name', 'type', 'source', 'route', 'kinds'],
                channels.map((c) => [
                  c.name,
                  c.type,
                  c.source,
                  c.route ? JSON.stringify(c.route) : '-',
                  (c.kinds ?? ['firing', 'resolved', 'repeat']).join(','),
                ]),
              );
            },
          )
          .command<GlobalArgs & { name: string }>(
            'delete <name>',
            'delete a channel made through the API',
            (b) => b.positional('name', { type: 'string', demandOption: true }),
            async (args) => {
              const r = await clientOf(args).deleteAlertChannel(args.name);
              if (args.json) return printJson(r);
              process.stdout.write(`alert channel '${r.deleted}' deleted\n`);
            },
          )
          .command<GlobalArgs & { name: string }>(
            'test <name>',
            "send a sample notification to the channel now: success, or the status code or error (never the receiver's body); exit 1 on failure",
            (b) => b.positional('name', { type: 'string', demandOption: true }),
            async (args) => {
              const r = await clientOf(args).testAlertChannel(args.name);
              if (args.json) printJson(r);
              else process.stdout.write(r.ok ? `ok${r.status !== undefined ? ` (${r.status})` : ''}\n` : `failed: ${r.error ?? `status ${r.status}`}\n`);
              if (!r.ok) process.exitCode = 1;
            },
          )
          .demandCommand(1),
      () => undefined,
    )
    .command<GlobalArgs & { channel?: string; key?: string; limit: number }>(
      'history',
      'every delivery attempt: time, channel, key, attempt, status code or error (admin)',
      (b) =>
        b
          .option('channel', { type: 'string', describe: 'of this channel only' })
          .option('key', { type: 'string', describe: 'of this idempotency key only' })
          .option('limit', countOption('limit', { default: 100, describe: 'the newest this many' })),
      async (args) => {
        const attempts = await clientOf(args).alertHistory({
          ...(args.channel !== undefined && { channel: args.channel }),
          ...(args.key !== undefined && { key: args.key }),
          limit: args.limit,
        });
        if (args.json) return printJson(attempts);
        printTable(
          ['time', 'channel', 'key', 'attempt', 'result'],
          attempts.map((a) => [
            iso(a.at),
            a.channel,
            a.notifications > 1 ? `${a.key} (${a.notifications})` : a.key,
            a.attempt,
            a.ok ? `ok${a.status !== undefined ? ` ${a.status}` : ''}` : `${a.error ?? a.status}${a.gaveUp ? ' (given up)' : ''}`,
          ]),
        );
      },
    );
}
