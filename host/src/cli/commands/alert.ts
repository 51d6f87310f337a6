import { readFile } from 'node:fs/promises';
import { alertNotifyCommands } from './alert-notify.js';
import type { Argv, CommandModule } from 'yargs';
import { parseRuleFile, validateRule, type AlertRule } from '../../alerts/rules.js';
import { ModelwatchError } from '../../errors.js';
import type { GlobalArgs } from '../args.js';
import { clientOf } from '../connect.js';
import { iso, printJson, printTable } from '../format.js';

/** A rule file's rules: `{ rules: [...] }` (as `--alerts`), or one rule. */
async function rulesOf(path: string): Promise<AlertRule[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ModelwatchError('INVALID_ARGUMENT', `--file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  if (/^\s*(\{\s*)?["']?rules["']?\s*:/m.test(text)) return parseRuleFile(text, path);
  const { parse } = await import('yaml');
  try {
    return [validateRule(parse(text))];
  } catch (err) {
    // the file's name with what is wrong in it (YAML's first line says where)
    throw new ModelwatchError('INVALID_ARGUMENT', `${path}: ${(err as Error).message.split('\n')[0]!.replace(/:$/, '')}`, { cause: err });
  }
}

const ruleCommands = (y: Argv<GlobalArgs>) =>
  y
    .command<GlobalArgs & { file: string }>(
      'create',
      'create (or replace) alert rules from a YAML or JSON file: one rule, or { rules: [...] } (needs an admin token)',
      (b) =>
        b
          .option('file', { alias: 'f', type: 'string', demandOption: true, describe: 'the rule file (YAML or JSON)' })
          .example('$0 alert rule create -f drift.yaml', 'the rules of drift.yaml, kept in KV mw_alert_rules'),
      async (args) => {
        const client = clientOf(args);
        const made = [];
        for (const r of await rulesOf(args.file)) made.push(await client.putAlertRule(r));
        if (args.json) return printJson(made);
        for (const r of made) process.stdout.write(`alert rule '${r.name}' saved\n`);
      },
    )
    .command<GlobalArgs>(
      'list',
      'list the alert rules: those of the host\'s --alerts file (source "file", read-only) and those made through the API',
      (b) => b,
      async (args) => {
        const rules = await clientOf(args).listAlertRules();
        if (args.json) return printJson(rules);
        printTable(
          ['name', 'severity', 'when', 'for', 'source'],
          rules.map((r) => [
            r.name,
            r.severity ?? 'medium',
            JSON.stringify(r.when),
            r.for ? ('consecutive' in r.for ? `${r.for.consecutive} in a row` : `${r.for.atLeast} of ${r.for.last}`) : '1',
            r.source,
          ]),
        );
      },
    )
    .command<GlobalArgs & { name: string }>(
      'show <name>',
      'show an alert rule',
      (b) => b.positional('name', { type: 'string', demandOption: true, describe: 'the rule name' }),
      async (args) => printJson(await clientOf(args).getAlertRule(args.name)),
    )
    .command<GlobalArgs & { name: string }>(
      'delete <name>',
      'delete an alert rule made through the API (a rule of the --alerts file is refused; needs an admin token)',
      (b) => b.positional('name', { type: 'string', demandOption: true, describe: 'the rule name' }),
      async (args) => {
        const r = await clientOf(args).deleteAlertRule(args.name);
        if (args.json) return printJson(r);
        process.stdout.write(`alert rule '${r.deleted}' deleted\n`);
      },
    )
    .command<GlobalArgs & { name: string }>(
      'test <name>',
      "send a sample notification of the rule through each of its channels now: per channel, success or the status code or error (never the receiver's body); exit 1 if one failed (needs an admin token)",
      (b) =>
        b
          .positional('name', { type: 'string', demandOption: true, describe: 'the rule name' })
          .example('$0 alert rule test drift-detected', 'one line per channel: ok (200), or failed: HTTP 500'),
      async (args) => {
        const r = await clientOf(args).testAlertRule(args.name);
        if (args.json) printJson(r);
        else if (r.channels.length === 0) process.stdout.write(`alert rule '${r.rule}': no channel takes its notifications\n`);
        else
          printTable(
            ['channel', 'result'],
            r.channels.map((c) => [c.channel, c.ok ? `ok${c.status !== undefined ? ` (${c.status})` : ''}` : `failed: ${c.error ?? `status ${c.status}`}`]),
          );
        if (r.channels.length === 0 || r.channels.some((c) => !c.ok)) process.exitCode = 1;
      },
    )
    .demandCommand(1);

interface SilenceArgs extends GlobalArgs {
  rule?: string;
  endpoint?: string;
  for?: string;
  comment?: string;
  list?: boolean;
  delete?: string;
}

/** `modelwatch alert rule|list|ack|resolve|silence`: alert rules, alerts and silences. */
export const alertCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'alert <command>',
  describe: 'alert rules, alerts (list, acknowledge, resolve), silences, notification channels and the delivery history',
  builder: (y) =>
    alertNotifyCommands(y)
      .command('rule <command>', 'create, list, show and delete alert rules', ruleCommands as never, () => undefined)
      .command<GlobalArgs & { active?: boolean }>(
        'list',
        'list alerts, newest first: all kept (the history), or the active ones',
        (b) => b.option('active', { type: 'boolean', describe: 'firing and acknowledged alerts only' }).example('$0 alert list --active', 'what is wrong now'),
        async (args) => {
          const alerts = await clientOf(args).listAlerts({ active: args.active === true });
          if (args.json) return printJson(alerts);
          printTable(
            ['id', 'state', 'severity', 'rule', 'endpoint', 'result', 'value', 'since', 'summary'],
            alerts.map((a) => [a.id, a.state, a.severity, a.rule, a.endpoint ?? '-', a.result ?? a.app ?? '-', a.value ?? '-', iso(a.startsAt), a.summary]),
          );
        },
      )
      .command<GlobalArgs & { id: string }>(
        'ack <id>',
        'acknowledge an alert: someone is on it (it stays active until it resolves)',
        (b) => b.positional('id', { type: 'string', demandOption: true, describe: 'the alert id (alert list)' }),
        async (args) => {
          const a = await clientOf(args).ackAlert(args.id);
          if (args.json) return printJson(a);
          process.stdout.write(`alert ${a.id} acknowledged\n`);
        },
      )
      .command<GlobalArgs & { id: string }>(
        'resolve <id>',
        'resolve an alert by hand (the way to close alerts of rules with reset: manual)',
        (b) => b.positional('id', { type: 'string', demandOption: true, describe: 'the alert id (alert list)' }),
        async (args) => {
          const a = await clientOf(args).resolveAlert(args.id);
          if (args.json) return printJson(a);
          process.stdout.write(`alert ${a.id} resolved\n`);
        },
      )
      .command<SilenceArgs>(
        'silence',
        'mute a rule, an endpoint (a name or a glob) or both for a while: no alert opens for them meanwhile; --list and --delete ID manage them',
        (b) =>
          b
            .option('rule', { type: 'string', describe: 'the rule to mute (without it: every rule, on --endpoint)' })
            .option('endpoint', { type: 'string', describe: 'the endpoint name or glob to mute (without it: every endpoint, of --rule)' })
            .option('for', { type: 'string', describe: 'how long: 30m, 2h' })
            .option('comment', { type: 'string', describe: 'why (maintenance, ...)' })
            .option('list', { type: 'boolean', describe: 'list the silences' })
            .option('delete', { type: 'string', describe: 'end the silence with this id' })
            .example('$0 alert silence --endpoint "churn-*" --for 2h --comment maintenance', 'no alerts for churn-* for two hours'),
        async (args) => {
          const client = clientOf(args);
          if (args.list) {
            const list = await client.listSilences();
            if (args.json) return printJson(list);
            return printTable(
              ['id', 'rule', 'endpoint', 'until', 'comment'],
              list.map((s) => [s.id, s.rule ?? '*', s.endpoint ?? '*', iso(s.endsAt), s.comment ?? '']),
            );
          }
          if (args.delete !== undefined) {
            const r = await client.deleteSilence(args.delete);
            if (args.json) return printJson(r);
            return void process.stdout.write(`silence ${r.deleted} ended\n`);
          }
          if (args.for === undefined || (args.rule === undefined && args.endpoint === undefined)) {
            throw new ModelwatchError('INVALID_ARGUMENT', 'alert silence: give --for (how long), with --rule, --endpoint or both');
          }
          const s = await client.createSilence({
            duration: args.for,
            ...(args.rule !== undefined && { rule: args.rule }),
            ...(args.endpoint !== undefined && { endpoint: args.endpoint }),
            ...(args.comment !== undefined && { comment: args.comment }),
          });
          if (args.json) return printJson(s);
          process.stdout.write(`silence ${s.id}: ${s.rule ?? 'every rule'} on ${s.endpoint ?? 'every endpoint'} until ${iso(s.endsAt)}\n`);
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};
