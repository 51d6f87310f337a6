import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The code blocks of the documentation and their test markers. A marker is an HTML comment on
 * the line right before a fence (invisible on GitHub):
 *
 * - `<!-- test: GROUP -->` before a `sh` block: the block runs in bash, after the blocks of
 *   GROUP before it, in GROUP's folder, against GROUP's test host;
 * - `<!-- test: GROUP file=PATH -->`: the block is written to PATH in GROUP's folder (an app's
 *   source, its plugin.json, a data file, a Python script), `localhost:7077` made GROUP's host;
 * - `<!-- test: GROUP post=/api/v1/... -->` before a `json` block: sent as the body of a POST to
 *   that path of GROUP's host, which must answer 2xx and reject nothing;
 * - `own-host` after GROUP: the group starts its own host (`modelwatch host start ... &`), on the
 *   port and in the home folder the test gives it, instead of a test host;
 * - `<!-- test: skip REASON -->`: not run, and why (an output sample, a fragment, needs make).
 *
 * Every block whose fence names a language must carry one: a new example is either run or says
 * why not.
 */
export interface DocBlock {
  /** Relative to the repository. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  lang: string;
  text: string;
  marker: DocMarker | undefined;
}

export type DocMarker =
  { kind: 'skip'; reason: string } | { kind: 'run' | 'file' | 'post'; group: string; path?: string; ownHost: boolean; problems: string[] };

/** The Markdown files whose examples are tested: the README, each package's README, each plugin's README and each client's (`clients/*`). */
export function docFiles(repo: string): string[] {
  const readmes = (folder: string) =>
    existsSync(join(repo, folder))
      ? readdirSync(join(repo, folder), { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => `${folder}/${d.name}/README.md`)
          .filter((f) => existsSync(join(repo, f)))
          .sort()
      : [];
  // each package's own README (what npm shows), as the package ships it
  const packages = ['host', 'sdk', 'protocol', 'tracker'].map((p) => `${p}/README.md`).filter((f) => existsSync(join(repo, f)));
  return ['README.md', ...packages, ...readmes('plugins'), ...readmes('clients')];
}

const MARKER = /^<!--\s*test:\s*(.*?)\s*-->\s*$/;

export function parseMarker(body: string, lang: string): DocMarker {
  const skip = /^skip\b\s*(.*)$/.exec(body);
  if (skip) return { kind: 'skip', reason: skip[1]! };
  const [group = '', ...opts] = body.split(/\s+/).filter(Boolean);
  const problems: string[] = [];
  if (!/^[a-z][a-z0-9-]*$/.test(group)) problems.push(`'${group}' is not a group name (lower-case letters, digits, '-')`);
  let kind: 'run' | 'file' | 'post' = 'run';
  let path: string | undefined;
  let ownHost = false;
  for (const o of opts) {
    const [k, v] = o.split('=', 2) as [string, string | undefined];
    if (k === 'own-host' && v === undefined) ownHost = true;
    else if ((k === 'file' || k === 'post') && v) {
      kind = k;
      path = v;
    } else problems.push(`unknown option '${o}' (file=PATH, post=/api/v1/..., own-host)`);
  }
  if (kind === 'run' && lang !== 'sh' && lang !== 'bash') problems.push(`only sh blocks run; give a ${lang} block file=PATH or post=PATH`);
  if (kind === 'post' && lang !== 'json') problems.push('post= takes a json block');
  if (kind === 'file' && (path!.startsWith('/') || path!.split('/').includes('..'))) problems.push(`file=${path}: a path inside the group's folder`);
  return { kind, group, ...(path ? { path } : {}), ownHost, problems };
}

/** The fenced blocks of a Markdown file, each with the marker on the line before its fence. */
export function docBlocks(repo: string, file: string): DocBlock[] {
  const lines = readFileSync(join(repo, file), 'utf8').split('\n');
  const out: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[2]!;
    const lang = open[3] ?? '';
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.trimStart().startsWith(fence); i++) body.push(lines[i]!.slice(open[1]!.length));
    const m = start > 0 ? MARKER.exec(lines[start - 1]!.trim()) : null;
    out.push({ file, line: start + 1, lang, text: `${body.join('\n')}\n`, marker: m ? parseMarker(m[1]!, lang) : undefined });
  }
  return out;
}

/** Markers not followed by a fence: a marker that tests nothing. */
export function strayMarkers(repo: string, file: string): number[] {
  const lines = readFileSync(join(repo, file), 'utf8').split('\n');
  const out: number[] = [];
  lines.forEach((l, i) => {
    if (/^<!--\s*test:/.test(l.trim()) && !/^\s*(`{3,}|~{3,})/.test(lines[i + 1] ?? '')) out.push(i + 1);
  });
  return out;
}

/** A group of blocks that run together, in document order. */
export interface DocGroup {
  name: string;
  ownHost: boolean;
  blocks: DocBlock[];
}

export function docGroups(repo: string): DocGroup[] {
  const groups = new Map<string, DocGroup>();
  for (const f of docFiles(repo)) {
    for (const b of docBlocks(repo, f)) {
      if (!b.marker || b.marker.kind === 'skip') continue;
      const g = groups.get(b.marker.group) ?? { name: b.marker.group, ownHost: false, blocks: [] };
      g.ownHost ||= b.marker.ownHost;
      g.blocks.push(b);
      groups.set(g.name, g);
    }
  }
  return [...groups.values()];
}
