import { ModelwatchError } from '../errors.js';

/**
 * Globs on names (endpoint, app and result names: letters, digits, `_` and `-`), the one matcher of
 * the host: endpoint lists (`?name=`), ingest tokens (`endpoints`), plugin.json `endpoints`, alert
 * rules (`endpoints.glob`, `results.app`, `results.name`) and silences (`endpoint`).
 *
 * - `*`: any run of characters, none too; `?`: one character
 * - `[abc]`, `[a-z]`: one of a set; `[!abc]` (or `[^abc]`): one character not in it
 * - `{a,b}`: either alternative (each a glob, possibly empty, possibly with `{...}` in it)
 * - letters, digits, `_` and `-` stand for themselves; case counts
 *
 * Anything else (`.`, `/`, `\`, extglobs such as `@(a|b)`, brace ranges such as `{1..3}`, an
 * unclosed `[` or `{`) is refused where a glob enters, by {@link compileGlob}. These are the globs
 * `path.posix.matchesGlob` (minimatch) takes, with its answers on names; unlike it (a regular
 * expression, which backtracks: `*a*a*a*a*ab` against a long run of `a` took seconds), a glob is
 * compiled to an automaton and run over the name once, each character moving the set of states it
 * may be in: at most {@link Glob.size} states a character, whatever the pattern, and one step a
 * character once the glob has seen names like it.
 */

/** The longest glob taken (the request schemas' limit). */
export const MAX_GLOB_LENGTH = 256;

/** A compiled glob. */
export interface Glob {
  readonly source: string;
  /** Its automaton's states: a match visits at most this many per character of the name, and once more. */
  readonly size: number;
  /**
   * Whether the whole of `name` matches (an empty name matches nothing, as with `matchesGlob`).
   * `meter.steps` is increased by the states visited.
   */
  matches(name: string, meter?: { steps: number }): boolean;
}

type Item = { t: 'char'; test: CharTest } | { t: 'star' } | { t: 'alt'; alternatives: Item[][] };
/** One character: a code, any, or a set of name characters (every other character is in a negated set only). */
type CharTest = number | 'any' | { set: Uint8Array; negated: boolean };

const NAME_CHAR = /[A-Za-z0-9_-]/;
const SYNTAX = "letters, digits, '_', '-', and * ? [...] [!...] {a,b}";

class GlobSyntaxError extends Error {}

function parse(pattern: string): Item[] {
  let at = 0;
  const fail = (problem: string): never => {
    throw new GlobSyntaxError(problem);
  };
  const nameChar = (what: string): number => {
    const c = pattern[at];
    if (c === undefined) return fail(`${what} is never closed`);
    if (!NAME_CHAR.test(c)) return fail(`${JSON.stringify(c)} at ${at + 1} is not allowed in a set (a glob takes ${SYNTAX})`);
    at++;
    return c.charCodeAt(0);
  };
  const set = (): CharTest => {
    const open = at++;
    const what = `'[' at ${open + 1}`;
    const negated = pattern[at] === '!' || pattern[at] === '^';
    if (negated) at++;
    const members = new Uint8Array(128);
    if (pattern[at] === ']') fail(`${what} opens an empty set`);
    while (pattern[at] !== ']') {
      const from = nameChar(what);
      if (pattern[at] === '-' && pattern[at + 1] !== undefined && pattern[at + 1] !== ']') {
        at++;
        const to = nameChar(what);
        if (to < from) fail(`the range ${String.fromCharCode(from)}-${String.fromCharCode(to)} at ${at - 2} is reversed`);
        members.fill(1, from, to + 1);
      } else members[from] = 1;
    }
    at++;
    return { set: members, negated };
  };
  /** Items up to the end, or (inside a `{`) up to its `,` or `}`. */
  const sequence = (depth: number): Item[] => {
    const items: Item[] = [];
    for (;;) {
      const c = pattern[at];
      if (c === undefined || (depth > 0 && (c === ',' || c === '}'))) return items;
      if (c === '*') {
        at++;
        if (items.at(-1)?.t !== 'star') items.push({ t: 'star' }); // ** is *
      } else if (c === '?') {
        at++;
        items.push({ t: 'char', test: 'any' });
      } else if (c === '[') items.push({ t: 'char', test: set() });
      else if (c === '{') {
        const open = at++;
        const alternatives = [sequence(depth + 1)];
        while (pattern[at] === ',') {
          at++;
          alternatives.push(sequence(depth + 1));
        }
        if (pattern[at] !== '}') fail(`'{' at ${open + 1} is never closed`);
        at++;
        if (alternatives.length < 2) fail(`'{' at ${open + 1} has one alternative: separate two or more with ','`);
        items.push({ t: 'alt', alternatives });
      } else if (NAME_CHAR.test(c)) {
        at++;
        items.push({ t: 'char', test: c.charCodeAt(0) });
      } else if (c === ',' || c === '}') fail(`${JSON.stringify(c)} at ${at + 1} is outside a {a,b} group`);
      else if (c === ']') fail(`']' at ${at + 1} closes no '['`);
      else fail(`${JSON.stringify(c)} at ${at + 1} is not allowed (a glob takes ${SYNTAX})`);
    }
  };
  return sequence(0);
}

const EPSILON = 0;
const TEST = 1;
const MATCH = 2;

/**
 * Characters by how a test can tell them apart: each name character a class of its own, every
 * other character one class (no literal or set holds one; `?`, `*` and negated sets take any).
 */
const OTHER = 64;
const CLASSES = OTHER + 1;
/** A character of each class: the name characters, and DEL for the others. */
const REPRESENTATIVES = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-\x7f'].map((c) => c.charCodeAt(0));
const CLASS_OF = new Int8Array(128).fill(OTHER);
REPRESENTATIVES.forEach((c, i) => (CLASS_OF[c] = i));
const classOf = (c: number): number => (c < 128 ? CLASS_OF[c]! : OTHER);

function accepts(t: CharTest, c: number): boolean {
  if (typeof t === 'number') return t === c;
  if (t === 'any') return true;
  return (t.set[c] === 1) !== t.negated;
}

/** The most states a glob's lazy DFA keeps: past them, a name goes on over the automaton's states without keeping its steps. */
const MAX_DFA_STATES = 512;

/** A state of the lazy DFA: the automaton's states it stands for (sorted), whether the match is one of them, its next state by class (-1: not known yet). */
interface DfaState {
  states: Int32Array;
  accepts: boolean;
  next: Int32Array;
}

/**
 * A Thompson automaton (states that test one character, states that lead on without one, the
 * match), run as a DFA built while it runs: a step from a set of states on a character class is
 * worked out over the automaton once, then looked up. A name takes one step a character; a step
 * not known yet visits each of the automaton's states at most once.
 */
class Automaton implements Glob {
  private readonly kind: number[] = [];
  private readonly test: CharTest[] = [];
  /** A test state's next state. */
  private readonly out: number[] = [];
  /** An epsilon state's next states. */
  private readonly next: number[][] = [];
  private readonly accept: number;
  /** Whether a state takes a character class: `takes[state * CLASSES + class]`, 0 for the states that test none. */
  private readonly takes: Uint8Array;
  private readonly dfa: DfaState[] = [];
  private readonly dfaIds = new Map<string, number>();
  // a step's buffers, kept: matching is synchronous
  private readonly mark: Uint32Array;
  private generation = 0;
  /** The states a step reaches (`filled` of them); `spare` the other list of a run without the DFA. */
  private into: Int32Array;
  private spare: Int32Array;
  private filled = 0;
  private readonly stack: number[] = [];
  private visits = 0;

  constructor(
    readonly source: string,
    items: Item[],
  ) {
    this.accept = this.state(MATCH);
    const start = this.sequence(items, this.accept);
    this.takes = new Uint8Array(this.kind.length * CLASSES);
    this.kind.forEach((kind, s) => {
      if (kind === TEST) REPRESENTATIVES.forEach((c, cls) => (this.takes[s * CLASSES + cls] = accepts(this.test[s]!, c) ? 1 : 0));
    });
    this.mark = new Uint32Array(this.kind.length);
    this.into = new Int32Array(this.kind.length);
    this.spare = new Int32Array(this.kind.length);
    this.nextGeneration();
    this.add(start);
    this.intern(this.reached());
  }

  get size(): number {
    return this.kind.length;
  }

  private state(kind: number, test: CharTest = 'any', out = -1, next: number[] = []): number {
    this.kind.push(kind);
    this.test.push(test);
    this.out.push(out);
    this.next.push(next);
    return this.kind.length - 1;
  }

  /** The states of `items`, built from the last one back, leading to `then`; its first state. */
  private sequence(items: Item[], then: number): number {
    let first = then;
    for (let i = items.length - 1; i >= 0; i--) {
      const item = items[i]!;
      if (item.t === 'char') first = this.state(TEST, item.test, first);
      else if (item.t === 'alt') {
        const after = first;
        first = this.state(
          EPSILON,
          'any',
          -1,
          item.alternatives.map((a) => this.sequence(a, after)),
        );
      } else {
        // a loop: take any character and come back, or go on
        const loop = this.state(EPSILON);
        this.next[loop] = [this.state(TEST, 'any', loop), first];
        first = loop;
      }
    }
    return first;
  }

  private nextGeneration(): void {
    if (this.generation === 0xffffffff) {
      this.mark.fill(0);
      this.generation = 0;
    }
    this.generation++;
    this.filled = 0;
  }

  /** Add `state`, and the states it leads to without a character, to this generation's states (each once). */
  private add(state: number): void {
    const { stack, mark, generation } = this;
    if (this.kind[state] !== EPSILON) {
      // most steps lead to one state that tests a character: no stack for it
      if (mark[state] === generation) return;
      mark[state] = generation;
      this.visits++;
      this.into[this.filled++] = state;
      return;
    }
    stack.push(state);
    while (stack.length > 0) {
      const s = stack.pop()!;
      if (mark[s] === generation) continue;
      mark[s] = generation;
      this.visits++;
      if (this.kind[s] === EPSILON) for (const n of this.next[s]!) stack.push(n);
      else this.into[this.filled++] = s;
    }
  }

  /** The states `states` reach on a character of the class `cls`. */
  private step(states: Int32Array, cls: number): Int32Array {
    this.nextGeneration();
    for (const s of states) if (this.takes[s * CLASSES + cls] === 1) this.add(this.out[s]!);
    return this.reached();
  }

  private reached(): Int32Array {
    return this.into.slice(0, this.filled).sort();
  }

  /** The DFA state of `states`, made when new; -1 when there is no room for it. */
  private intern(states: Int32Array): number {
    const key = states.join(',');
    let id = this.dfaIds.get(key);
    if (id === undefined) {
      if (this.dfa.length >= MAX_DFA_STATES) return -1;
      id = this.dfa.length;
      this.dfa.push({ states, accepts: states.includes(this.accept), next: new Int32Array(CLASSES).fill(-1) });
      this.dfaIds.set(key, id);
    }
    return id;
  }

  matches(name: string, meter?: { steps: number }): boolean {
    if (name.length === 0) return false;
    this.visits = 1; // the start, known
    let at = this.dfa[0]!;
    for (let i = 0; i < name.length && at.states.length > 0; i++) {
      const cls = classOf(name.charCodeAt(i));
      const known = at.next[cls]!;
      if (known >= 0) {
        this.visits++;
        at = this.dfa[known]!;
        continue;
      }
      const states = this.step(at.states, cls);
      const id = this.intern(states);
      if (id < 0) return this.finish(states, name, i + 1, meter);
      at.next[cls] = id;
      at = this.dfa[id]!;
    }
    if (meter) meter.steps += this.visits;
    return at.accepts;
  }

  /** The rest of a name from `states`, over the automaton's states (the DFA is full). */
  private finish(states: Int32Array, name: string, from: number, meter?: { steps: number }): boolean {
    let current = this.spare;
    current.set(states);
    let live = states.length;
    for (let i = from; i < name.length && live > 0; i++) {
      const cls = classOf(name.charCodeAt(i));
      this.nextGeneration();
      for (let j = 0; j < live; j++) {
        const s = current[j]!;
        if (this.takes[s * CLASSES + cls] === 1) this.add(this.out[s]!);
      }
      live = this.filled;
      [current, this.into] = [this.into, current];
    }
    this.spare = current;
    if (meter) meter.steps += this.visits;
    // the last generation's states are those the whole name reaches
    return live > 0 && this.mark[this.accept] === this.generation;
  }
}

/** The items of `pattern`, or what is wrong with it. */
function read(pattern: unknown): Item[] | string {
  if (typeof pattern !== 'string' || pattern.length === 0) return 'expected a glob of names, e.g. fraud-*';
  if (pattern.length > MAX_GLOB_LENGTH) return `a glob is at most ${MAX_GLOB_LENGTH} characters, this one has ${pattern.length}`;
  try {
    return parse(pattern);
  } catch (err) {
    if (err instanceof GlobSyntaxError) return `${JSON.stringify(pattern)} is not a valid glob: ${err.message}`;
    throw err;
  }
}

/** Why `pattern` is not a glob the host takes (see the module's comment), or undefined when it is one. */
export function globProblem(pattern: unknown): string | undefined {
  const items = read(pattern);
  return typeof items === 'string' ? items : undefined;
}

/** `pattern` compiled, or `INVALID_ARGUMENT` `<field>: <what is wrong>` when it is not a glob the host takes. */
export function compileGlob(pattern: unknown, field: string): Glob {
  const items = read(pattern);
  if (typeof items === 'string') throw new ModelwatchError('INVALID_ARGUMENT', `${field}: ${items}`);
  return new Automaton(pattern as string, items);
}

/**
 * A matcher of the glob `pattern`, compiled once: for a pattern kept by its holder (an alert rule).
 * A stored pattern that is not a glob the host takes (stored before patterns were checked) matches
 * nothing.
 */
export function globMatcher(pattern: string): (name: string) => boolean {
  const items = read(pattern);
  if (typeof items === 'string') return () => false;
  const glob = new Automaton(pattern, items);
  return (name) => glob.matches(name);
}

/** Compiled globs by their text (`null`: not a glob), kept: the same few are matched again and again. */
const compiled = new Map<string, Automaton | null>();

/**
 * Whether `name` matches the glob `pattern`. A stored pattern that is not a glob the host takes
 * (stored before patterns were checked) matches nothing.
 */
export function globMatches(pattern: string, name: string): boolean {
  let glob = compiled.get(pattern);
  if (glob === undefined) {
    const items = read(pattern);
    glob = typeof items === 'string' ? null : new Automaton(pattern, items);
    if (compiled.size >= 1000) compiled.clear();
    compiled.set(pattern, glob);
  }
  return glob !== null && glob.matches(name);
}
