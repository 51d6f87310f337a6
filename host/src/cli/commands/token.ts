import type { CommandModule } from 'yargs';
import { TOKEN_SCOPES, type TokenScope } from '@modelwatch/protocol';
import { checkScopes } from '../../domain/tokens.js';
import { countOption, type GlobalArgs } from '../args.js';
import { clientOf } from '../connect.js';
import { iso, printJson, printTable } from '../format.js';

interface CreateArgs extends GlobalArgs {
  name: string;
  scopes: string;
  endpoints?: string;
}

/** `modelwatch token create|list|revoke`: the API tokens (admin). */
export const tokenCommand: CommandModule<GlobalArgs, GlobalArgs> = {
  command: 'token <command>',
  describe: 'create, list and revoke API tokens (needs an admin token)',
  builder: (y) =>
    y
      .command<CreateArgs>(
        'create',
        'create a token and print it, once (only its SHA-256 is stored)',
        (b) =>
          b
            .option('name', { type: 'string', demandOption: true, describe: 'its name, shown in token list and in the audit log' })
            .option('scopes', { type: 'string', demandOption: true, describe: `comma-separated: ${TOKEN_SCOPES.join(', ')}` })
            .option('endpoints', { type: 'string', describe: 'limit its ingest scope to the endpoints whose names match this glob, e.g. fraud-*' })
            .example('$0 token create --name model-server --scopes ingest --endpoints "fraud-*"', 'a token that may only post events and labels to fraud-*')
            .example('$0 token create --name dashboard --scopes read', 'a read-only token'),
        async (args) => {
          const scopes: TokenScope[] = checkScopes(args.scopes);
          const t = await clientOf(args).createToken({ name: args.name, scopes, ...(args.endpoints !== undefined && { endpoints: args.endpoints }) });
          if (args.json) return printJson(t);
          process.stderr.write(
            `token '${t.name}' created (scopes: ${t.scopes.join(', ')}${t.endpoints ? `; ingest to ${t.endpoints}` : ''}); it is shown once:\n`,
          );
          process.stdout.write(`${t.token}\n`);
        },
      )
      .command<GlobalArgs>(
        'list',
        'list the tokens: names, scopes, endpoints, created when and by whom (never the tokens)',
        (b) => b,
        async (args) => {
          const tokens = await clientOf(args).listTokens();
          if (args.json) return printJson(tokens);
          printTable(
            ['name', 'scopes', 'endpoints', 'created', 'by'],
            tokens.map((t) => [t.name, t.scopes.join(','), t.endpoints ?? '-', iso(t.createdAt), t.createdBy ?? '-']),
          );
        },
      )
      .command<GlobalArgs & { name: string }>(
        'revoke <name>',
        'revoke a token: refused from then on',
        (b) => b.positional('name', { type: 'string', demandOption: true, describe: 'the token name' }),
        async (args) => {
          const r = await clientOf(args).revokeToken(args.name);
          if (args.json) return printJson(r);
          process.stdout.write(`token '${r.revoked}' revoked\n`);
        },
      )
      .demandCommand(1),
  handler: () => undefined,
};

/** `modelwatch audit`: who changed what, when, and what was answered (admin). */
export const auditCommand: CommandModule<GlobalArgs, GlobalArgs & { since?: string; limit: number }> = {
  command: 'audit',
  describe: 'show the audit log: every state change asked of the API, with the token, the route, the time and the status answered (needs an admin token)',
  builder: (y) =>
    y
      .option('since', { type: 'string', describe: 'from this time on: an ISO time, or a duration back from now (1h)' })
      .option('limit', countOption('limit', { default: 100, describe: 'at most this many entries (the newest, without --since)' }))
      .example('$0 audit --since 1h', 'the changes of the last hour') as never,
  handler: async (args) => {
    const entries = await clientOf(args).audit({ ...(args.since !== undefined && { since: args.since }), limit: args.limit });
    if (args.json) return printJson(entries);
    printTable(
      ['time', 'token', 'method', 'target', 'status'],
      entries.map((e) => [iso(e.at), e.token ?? '(none)', e.method, e.target, e.status]),
    );
  },
};
