import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCli } from '../src/cli/main.js';
import { VERSION } from '../src/host.js';

/**
 * The CLI as the README documents it, held against the CLI itself and against the tests: every
 * documented command and flag exists, parses with a value, is listed by its `--help`, and is run by
 * some test; every command and option the CLI has is documented. A flag that breaks (yargs took
 * `--version` for itself) or goes missing cannot do so unnoticed.
 */

const REPO = new URL('../..', import.meta.url).pathname;
const README = readFileSync(join(REPO, 'README.md'), 'utf8');
/** Where tests run the CLI (this file is left out: it only parses). */
const TEST_DIRS = ['test', 'host/test', 'sdk/test'];
const THIS_FILE = new URL(import.meta.url).pathname;

type OptionType = 'string' | 'number' | 'boolean' | 'array';

interface CliOption {
  name: string;
  type: OptionType;
  required: boolean;
}

interface CliCommand {
  path: string[];
  subcommands: string[];
  positionals: Array<{ name: string; required: boolean; type: OptionType }>;
  options: Map<string, CliOption>;
}

// ---- the CLI, as its --help shows it

/** What `modelwatch <path> --help` prints, unwrapped (one line per item). */
async function helpOf(path: string[]): Promise<string> {
  const argv = [...path, '--help'];
  const cli = buildCli(argv).exitProcess(false).wrap(null);
  return await new Promise<string>((resolve) => void cli.parse(argv, {}, (_err, _args, output) => resolve(output)));
}

function sections(help: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of help.split('\n')) {
    const header = /^([A-Z][a-z]+):$/.exec(line);
    if (header) out.set(header[1]!, (current = []));
    else if (line.trim() === '') current = undefined;
    else current?.push(line);
  }
  return out;
}

function typeOf(line: string): OptionType {
  const m = /\[(string|number|boolean|array)\]/.exec(line);
  return (m?.[1] as OptionType | undefined) ?? 'string';
}

async function commandAt(path: string[]): Promise<CliCommand> {
  const s = sections(await helpOf(path));
  // `  modelwatch plugin publish <dir>  bundle a plugin...`: the command, two spaces, its description
  const subcommands = (s.get('Commands') ?? []).map((line) => {
    const words = line
      .trim()
      .split(/\s{2,}/)[0]!
      .split(' ')
      .filter((w) => !w.startsWith('<') && !w.startsWith('['));
    if (words.length !== path.length + 2 || words.slice(0, -1).join(' ') !== ['modelwatch', ...path].join(' ')) throw new Error(`cannot read '${line}'`);
    return words[words.length - 1]!;
  });
  const positionals = (s.get('Positionals') ?? []).map((line) => ({
    name: line.trim().split(/\s+/)[0]!,
    required: line.includes('[required]'),
    type: typeOf(line),
  }));
  const options = new Map<string, CliOption>();
  // `  -f, --follow  keep printing new lines  [boolean]`: names, two spaces, description and types
  for (const line of s.get('Options') ?? []) {
    const m = /(?:^|\s)--([a-z][a-z0-9-]*)/.exec(line.trim().split(/\s{2,}/)[0]!);
    if (m) options.set(m[1]!, { name: m[1]!, type: typeOf(line), required: line.includes('[required]') });
  }
  return { path, subcommands, positionals, options };
}

/** Every command of the CLI, by path (`''` is the top level). */
async function cliTree(): Promise<Map<string, CliCommand>> {
  const tree = new Map<string, CliCommand>();
  const visit = async (path: string[]) => {
    const c = await commandAt(path);
    tree.set(path.join(' '), c);
    for (const sub of c.subcommands) await visit([...path, sub]);
  };
  await visit([]);
  return tree;
}

class Parsed extends Error {
  constructor(readonly args: Record<string, unknown>) {
    super('parsed');
  }
}

/** Parse a command line as the CLI does (strict), stopping before the command's handler runs. */
async function parse(argv: string[]): Promise<{ ok: true; args: Record<string, unknown> } | { ok: false; error: string }> {
  const cli = buildCli(argv)
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .middleware((args) => {
      throw new Parsed(args);
    }, false);
  try {
    await cli.parseAsync();
    return { ok: false, error: 'the handler ran: the parse was not stopped' };
  } catch (err) {
    if (err instanceof Parsed) return { ok: true, args: err.args };
    return { ok: false, error: (err as Error).message };
  }
}

const SAMPLE: Record<OptionType, string> = { string: 'sample-value', number: '7', boolean: '', array: 'sample-value' };

/** A command line that reaches `c`'s handler: its required positionals and options with sample values. */
function minimalArgs(c: CliCommand, except?: string): string[] {
  const args = [...c.path];
  for (const p of c.positionals) if (p.required) args.push(p.type === 'number' ? '7' : 'sample-positional');
  for (const o of c.options.values()) {
    if (!o.required || o.name === except) continue;
    args.push(`--${o.name}`);
    if (o.type !== 'boolean') args.push(SAMPLE[o.type]);
  }
  return args;
}

// ---- the CLI, as the README documents it

interface DocUse {
  /** Where in the README, for messages. */
  where: string;
  path: string[];
  /** Flags as written (`--no-on`), without values. */
  flags: string[];
}

/** The README from `## title` to the next `## `. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`README has no section '## ${title}'`);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

function lineOf(text: string): number {
  return README.slice(0, README.indexOf(text)).split('\n').length;
}

const FLAG = /--[a-z][a-z0-9-]*/g;

/**
 * The command lines of one documented form, e.g. `modelwatch plugin disable my-app / enable my-app`
 * or the cells of the CLI table: parts after the first inherit what they leave out (`--config FILE`
 * is the previous command's, `disable` is a `monitoring` subcommand when the previous was).
 */
function usesOf(parts: string[], where: string, tree: Map<string, CliCommand>): DocUse[] {
  const top = tree.get('')!;
  const out: DocUse[] = [];
  let previous: DocUse | undefined;
  for (const raw of parts) {
    const text = raw.replace(/\\\|/g, ' ').replace(/[[\]|]/g, ' ');
    let words = text.trim().split(/\s+/);
    if (words[0] === 'modelwatch') words = words.slice(1);
    else if (words[0]?.startsWith('--') && previous) words = [...previous.path, ...words];
    else if (previous && !top.subcommands.includes(words[0]!)) words = [previous.path[0]!, ...words];
    const path: string[] = [];
    let node = top;
    for (const w of words) {
      if (w.startsWith('-') || node.subcommands.length === 0) break;
      path.push(w);
      const next = tree.get(path.join(' '));
      if (!next) break; // reported by the test: an unknown command
      node = next;
    }
    const use = { where, path, flags: [...new Set(text.match(FLAG) ?? [])] };
    out.push(use);
    previous = use;
  }
  return out;
}

function documentedUses(tree: Map<string, CliCommand>): DocUse[] {
  const uses: DocUse[] = [];
  // the CLI table: the first cell of each row, its forms separated by ` / `
  for (const row of section('CLI').split('\n')) {
    if (!row.startsWith('| `')) continue;
    const cell = row.split(/(?<!\\)\|/)[1]!;
    const forms = [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    uses.push(...usesOf(forms, `README.md:${lineOf(row)} (CLI table)`, tree));
  }
  // global options, on every command (checked on the top level)
  const global = section('CLI')
    .split('\n\n')
    .find((p) => p.startsWith('Global options:'));
  if (!global) throw new Error("README's CLI section has no paragraph 'Global options: ...'");
  uses.push({ where: `README.md:${lineOf(global)} (global options)`, path: [], flags: global.match(FLAG) ?? [] });
  // the Configuration table: flags of `modelwatch host start`
  for (const row of section('Configuration').split('\n')) {
    if (!row.startsWith('| ')) continue;
    const cell = row.split('|')[2] ?? '';
    const flags: string[] = [];
    for (const [, span] of cell.matchAll(/`([^`]+)`/g)) {
      // `--influx-url/-token/-org/-bucket`: one prefix, several flags
      const [first, ...more] = span!.split(' ')[0]!.split('/');
      if (!first!.startsWith('--')) continue;
      flags.push(first!);
      const prefix = first!.slice(0, first!.lastIndexOf('-') + 1);
      for (const m of more) flags.push(`${prefix}${m.replace(/^-/, '')}`);
    }
    if (flags.length) uses.push({ where: `README.md:${lineOf(row)} (Configuration)`, path: ['host', 'start'], flags });
  }
  // every command line anywhere else: code spans and lines of code blocks that start with `modelwatch`
  const lines = README.split('\n');
  let inBlock = false;
  lines.forEach((line, i) => {
    if (line.startsWith('```')) {
      inBlock = !inBlock;
      return;
    }
    const where = `README.md:${i + 1}`;
    if (inBlock) {
      const cmd = line.replace(/\s#.*$/, '').trim();
      if (cmd.startsWith('modelwatch ')) uses.push(...usesOf(cmd.replace(/\s&$/, '').split(' / '), where, tree));
      return;
    }
    if (line.startsWith('| `modelwatch')) return; // the CLI table, done above
    for (const [, span] of line.matchAll(/`(modelwatch [^`]+)`/g)) uses.push(...usesOf([span!], where, tree));
  });
  return uses;
}

/** The option a documented flag sets: `--no-on` is the negation of the boolean `--on`. */
function optionOf(flag: string, c: CliCommand): { option: CliOption; value: string | undefined } | undefined {
  const name = flag.slice(2);
  const o = c.options.get(name);
  if (o) return { option: o, value: o.type === 'boolean' ? undefined : SAMPLE[o.type] };
  const negated = name.startsWith('no-') ? c.options.get(name.slice(3)) : undefined;
  if (negated?.type === 'boolean') return { option: negated, value: undefined };
  return undefined;
}

const camel = (s: string) => s.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());

// ---- the tests, as command lines

/**
 * Every list of string literals in the tests that could be a command line: the arguments of a
 * call (`cli('plugin', 'evaluate', ...)`) or the elements of an array (`spawn(node, [CLI, 'host', ...])`).
 * A helper that puts its parameter into a command line (`const cli = (...args) => run(node, [CLI,
 * '--host', url, ...args])`, `hostProcess(args)` with `[CLI, 'host', 'start', ...args]`) adds its
 * own words in front of what its callers give it.
 */
function testInvocations(): Array<{ file: string; words: string[] }> {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory() && e.name !== 'fixtures' && e.name !== 'node_modules') walk(p);
      else if (e.isFile() && e.name.endsWith('.ts') && p !== THIS_FILE) files.push(p);
    }
  };
  for (const d of TEST_DIRS) walk(join(REPO, d));
  const sources = files.map((file) => ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true));
  const literals = (nodes: readonly ts.Node[]): string[] =>
    nodes.flatMap((n) =>
      ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n) ? [n.text] : ts.isArrayLiteralExpression(n) ? literals(n.elements) : [],
    );
  // helpers: the name of a function whose parameter is spread into a list of words, and the words before it
  const prefixes = new Map<string, string[][]>();
  const nameOf = (fn: ts.Node): string | undefined => {
    if (ts.isFunctionDeclaration(fn)) return fn.name?.text;
    if ((ts.isArrowFunction(fn) || ts.isFunctionExpression(fn)) && ts.isVariableDeclaration(fn.parent) && ts.isIdentifier(fn.parent.name))
      return fn.parent.name.text;
    return undefined;
  };
  const findHelpers = (n: ts.Node) => {
    if (ts.isArrayLiteralExpression(n)) {
      const spread = n.elements.findIndex((e) => ts.isSpreadElement(e) && ts.isIdentifier(e.expression));
      if (spread >= 0) {
        const param = ((n.elements[spread] as ts.SpreadElement).expression as ts.Identifier).text;
        for (let fn: ts.Node | undefined = n.parent; fn; fn = fn.parent) {
          if (!ts.isFunctionLike(fn) || !fn.parameters.some((p) => ts.isIdentifier(p.name) && p.name.text === param)) continue;
          const name = nameOf(fn);
          if (name) prefixes.set(name, [...(prefixes.get(name) ?? []), literals(n.elements.slice(0, spread))]);
          break;
        }
      }
    }
    ts.forEachChild(n, findHelpers);
  };
  for (const src of sources) findHelpers(src);
  const out: Array<{ file: string; words: string[] }> = [];
  for (const src of sources) {
    const file = relative(REPO, src.fileName);
    const visit = (n: ts.Node) => {
      if (ts.isCallExpression(n)) {
        const words = literals(n.arguments);
        const helper = ts.isIdentifier(n.expression) ? prefixes.get(n.expression.text) : undefined;
        for (const prefix of helper ?? [[]]) out.push({ file, words: [...prefix, ...words] });
      } else if (ts.isArrayLiteralExpression(n)) out.push({ file, words: literals(n.elements) });
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  return out.filter((x) => x.words.length > 0);
}

/** Does this list of words run `path` (contiguously), with `flag` after it when given? */
function runs(words: string[], path: string[], flag?: string): boolean {
  for (let i = 0; i + path.length <= words.length; i++) {
    if (!path.every((w, k) => words[i + k] === w)) continue;
    if (!flag) return true;
    if (words.slice(i + path.length).includes(flag)) return true;
  }
  return false;
}

describe('the CLI as the README documents it', () => {
  let tree: Map<string, CliCommand>;
  let uses: DocUse[];

  beforeAll(async () => {
    tree = await cliTree();
    uses = documentedUses(tree);
  });

  it('finds the commands in the README (the parsing of the README works)', () => {
    expect(tree.get('')!.subcommands).toEqual(expect.arrayContaining(['host', 'plugin', 'endpoint', 'monitoring', 'results']));
    expect(uses.some((u) => u.path.join(' ') === 'plugin evaluate' && u.flags.includes('--version'))).toBe(true);
    expect(uses.some((u) => u.path.join(' ') === 'host start' && u.flags.includes('--influx-bucket'))).toBe(true);
    expect(uses.some((u) => u.path.join(' ') === 'monitoring disable')).toBe(true);
    expect(uses.length).toBeGreaterThan(40);
  });

  it('every documented command exists, and every documented flag is listed by its --help and parses with a value', async () => {
    const problems: string[] = [];
    for (const u of uses) {
      const c = tree.get(u.path.join(' '));
      if (!c || (c.subcommands.length > 0 && u.path.length > 0)) {
        problems.push(`${u.where}: \`modelwatch ${u.path.join(' ')}\` is not a command of the CLI`);
        continue;
      }
      if (u.path.length > 0) {
        const base = await parse(minimalArgs(c));
        if (!base.ok) problems.push(`${u.where}: \`${minimalArgs(c).join(' ')}\` does not parse: ${base.error}`);
      }
      // global options (documented at the top level) are checked on every command
      const targets = u.path.length > 0 ? [c] : [...tree.values()].filter((x) => x.subcommands.length === 0);
      for (const target of targets) await checkFlags(u, target, problems);
    }
    expect(problems).toEqual([]);
  });

  async function checkFlags(u: DocUse, c: CliCommand, problems: string[]): Promise<void> {
    for (const flag of u.flags) {
      if (flag === '--help') continue;
      if (flag === '--version' && u.path.length === 0) continue; // the CLI's own, tested below
      const found = optionOf(flag, c);
      if (!found) {
        problems.push(
          `${u.where}: \`modelwatch ${c.path.join(' ')}\` has no ${flag} (its --help lists: ${[...c.options.keys()].map((k) => `--${k}`).join(', ')})`,
        );
        continue;
      }
      const argv = [...minimalArgs(c, found.option.name), flag, ...(found.value === undefined ? [] : [found.value])];
      const r = await parse(argv);
      if (!r.ok) {
        problems.push(`${u.where}: \`modelwatch ${argv.join(' ')}\` is refused: ${r.error}`);
        continue;
      }
      const got = r.args[camel(found.option.name)];
      const expected =
        found.option.type === 'boolean'
          ? !flag.startsWith('--no-')
          : found.option.type === 'number'
            ? Number(found.value)
            : found.option.type === 'array'
              ? [found.value]
              : found.value;
      if (JSON.stringify(got) !== JSON.stringify(expected))
        problems.push(`${u.where}: \`modelwatch ${argv.join(' ')}\` gives ${found.option.name} = ${JSON.stringify(got)}, not ${JSON.stringify(expected)}`);
    }
  }

  it('every command and option of the CLI is documented in the README', () => {
    const problems: string[] = [];
    const documented = new Map<string, Set<string>>();
    for (const u of uses) {
      const key = u.path.join(' ');
      const set = documented.get(key) ?? new Set<string>();
      for (const f of u.flags) set.add(f.replace(/^--no-/, '--'));
      documented.set(key, set);
    }
    for (const [key, c] of tree) {
      if (c.subcommands.length > 0 && key !== '') continue;
      if (key !== '' && !documented.has(key)) {
        problems.push(`\`modelwatch ${key}\` is not in the README`);
        continue;
      }
      for (const o of c.options.keys()) {
        if (o === 'help' || (key === '' && o === 'version')) continue;
        if (key !== '' && ['host', 'json', 'token', 'data-dir'].includes(o)) continue; // global options, documented once
        if (!documented.get(key)?.has(`--${o}`)) problems.push(`\`modelwatch ${key} --${o}\` is not in the README`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('every documented command and flag is run by some test', () => {
    const invocations = testInvocations();
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const u of uses) {
      const targets =
        u.path.length === 0
          ? u.flags.map((f) => ({ path: [] as string[], flag: f }))
          : [{ path: u.path, flag: undefined as string | undefined }, ...u.flags.map((f) => ({ path: u.path, flag: f }))];
      for (const { path, flag } of targets) {
        const key = `${path.join(' ')} ${flag ?? ''}`;
        if (seen.has(key) || flag === '--help') continue;
        seen.add(key);
        const ok = path.length === 0 ? invocations.some((x) => x.words.includes(flag!)) : invocations.some((x) => runs(x.words, path, flag));
        if (!ok) problems.push(`${u.where}: no test runs \`modelwatch ${path.join(' ')}${flag ? ` ${flag}` : ''}\``);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe('--version', () => {
  it('modelwatch --version prints the CLI version', async () => {
    const cli = buildCli(['--version']).exitProcess(false);
    const output = await new Promise<string>((resolve) => void cli.parse(['--version'], {}, (_err, _args, out) => resolve(out)));
    expect(output.trim()).toBe(VERSION);
  });

  it('below the top level --version is an option of the command (the plugin version of plugin evaluate)', async () => {
    const r = await parse(['plugin', 'evaluate', 'mean-shift', '--endpoint', 'churn', '--from', '1', '--to', '2', '--version', '1.1.0']);
    expect(r).toMatchObject({ ok: true, args: { version: '1.1.0', name: 'mean-shift' } });
    // and a command without one refuses it, as any unknown flag
    expect(await parse(['plugin', 'list', '--version'])).toMatchObject({ ok: false, error: expect.stringMatching(/Unknown argument: version/) });
  });
});
