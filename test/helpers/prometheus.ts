/**
 * The Prometheus text exposition format (version 0.0.4), read into samples: what a scrape of
 * `GET /metrics` holds, for tests to assert on values rather than on the text.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  /** Every sample, in order. */
  samples: Sample[];
  /** `# TYPE` of each metric family. */
  types: Map<string, string>;
  /** The samples of `name` whose labels include `labels`. */
  find(name: string, labels?: Record<string, string>): Sample[];
  /** The value of the one sample of `name` with exactly these labels; undefined when there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

/** A sample value: a Go float, so `NaN` and `Inf` in any case (prom-client writes `Nan`). */
function parseValue(text: string, line: string): number {
  const word = text.toLowerCase();
  if (word === '+inf' || word === 'inf') return Infinity;
  if (word === '-inf') return -Infinity;
  if (word === 'nan') return NaN;
  const v = Number(text);
  if (text === '' || Number.isNaN(v)) throw new Error(`not a sample value: '${text}' in line: ${line}`);
  return v;
}

/** The labels of `{a="x",b="y"}` starting at `s[i]` (the brace), and the index after the closing brace. */
function parseLabels(s: string, i: number, line: string): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  i++;
  for (;;) {
    while (s[i] === ' ' || s[i] === ',') i++;
    if (s[i] === '}') return [labels, i + 1];
    const name = NAME.exec(s.slice(i))?.[0];
    if (!name || s[i + name.length] !== '=' || s[i + name.length + 1] !== '"') throw new Error(`bad label at ${i} in line: ${line}`);
    i += name.length + 2;
    let value = '';
    for (;;) {
      const c = s[i++];
      if (c === undefined) throw new Error(`unterminated label value in line: ${line}`);
      if (c === '"') break;
      if (c === '\\') {
        const e = s[i++];
        value += e === 'n' ? '\n' : e === '\\' ? '\\' : e === '"' ? '"' : `\\${e ?? ''}`;
      } else value += c;
    }
    labels[name] = value;
  }
}

/** Read a scrape's text; a line that is not a comment, blank or a sample throws. */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# TYPE (\S+) (\S+)$/.exec(line);
      if (m) types.set(m[1]!, m[2]!);
      continue;
    }
    const name = NAME.exec(line)?.[0];
    if (!name) throw new Error(`not a sample: ${line}`);
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i, line);
    const [value = '', _timestamp] = line.slice(i).trim().split(/\s+/);
    samples.push({ name, labels, value: parseValue(value, line) });
  }
  const has = (s: Sample, labels: Record<string, string>) => Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  const find = (name: string, labels: Record<string, string> = {}) => samples.filter((s) => s.name === name && has(s, labels));
  return {
    samples,
    types,
    find,
    value(name, labels = {}) {
      const exact = find(name, labels).filter((s) => Object.keys(s.labels).length === Object.keys(labels).length);
      if (exact.length > 1) throw new Error(`${exact.length} samples of ${name} with labels ${JSON.stringify(labels)}`);
      return exact[0]?.value;
    },
  };
}
