/**
 * What the host and the runtime inside the isolate agree on, defined once: the operations each
 * side calls on the other, what crosses with them, the answers that are not output, and the
 * limits both enforce. Constants only and types: the runtime's bundle inlines them.
 * @module
 */
import type { ArtifactLimits, LogLevel } from '../../sdk-internal.js';

/** Largest output (JSON text) an app may return. */
export const MAX_OUTPUT_CHARS = 8 * 1024 * 1024;
/** How deep an output may nest. */
export const MAX_OUTPUT_DEPTH = 64;
/** Log lines a window may write; the rest are dropped (in the isolate, and again on the host). */
export const MAX_LOG_LINES_PER_WINDOW = 100;
/** A log line's message and its fields (JSON text) are each cut to this many characters (in the isolate, before crossing). */
export const MAX_LOG_LINE_CHARS = 4096;
/** Characters (messages and fields together) a window may log; the lines after are dropped, and counted. */
export const MAX_LOG_CHARS_PER_WINDOW = 64 * 1024;

/**
 * The answers of the runtime's operations that are not a window's output. Each starts with NUL,
 * which JSON text never does.
 */
export const Answer = {
  /** `runWindow`: the realm is not as the first window found it; nothing ran, the host starts a fresh context. */
  dirty: '\u0000dirty',
  /** `takeOutput`: the window's promise has not settled, and nothing in the sandbox could settle it any more. */
  pending: '\u0000pending',
  /** `takeOutput`: the output is not plain data; what is wrong follows. */
  invalid: '\u0000invalid:',
} as const;

/**
 * The global the bundle's module factory is defined on (configurable) by the script that wraps the
 * plugin's bundle; the runtime takes it and deletes the global before any plugin code runs.
 */
export const FACTORY_GLOBAL = '__mw_factory';

/** Which of a window's samples: the window's rows, or the reference's. */
export type SampleName = 'window' | 'reference';

/** How a sample (the window, the reference) is laid out in its Float64Array. */
export interface SampleSpec {
  length: number;
  /** All column names in order. */
  columns: string[];
  /** Numeric columns, in their order in the buffer (each `length` values). */
  numeric: string[];
  /** String columns (their values come with the sample's text part). */
  stringColumns: string[];
  /** Whether the buffer holds timestamps and latencies after the numeric columns. */
  timed: boolean;
}

/** The text part of a sample, fetched when first needed. */
export interface SampleText {
  strings: Record<string, Array<string | null>>;
  /** null when no row has one. */
  requestIds: Array<string | null> | null;
  /** The ground truth's string columns (the window's text part only). */
  groundTruth?: Record<string, Array<string | null>>;
}

/**
 * The window's statistics as JSON text, given with `runWindow` instead of fetched through
 * `sampleStats` / `featureStats`: each of those is a call from the isolate's thread to the host's
 * and back, about 50 µs of CPU, where a string given with the call costs a copy. The host gives
 * them to a version whose app read them in an earlier window (most apps read the same every
 * window), as `runWindow`'s last two arguments.
 */
export interface WindowStatsText {
  /** The window's (`ctx.sampleStats`). */
  sample?: string | undefined;
  /** The reference's (`ctx.featureStats`). */
  reference?: string | undefined;
}

/** A window's metadata: what `runWindow` gets as JSON text. The rows and statistics come through the host's operations. */
export interface WindowMeta {
  applicationName: string;
  endpoint: { id: string; name: string; featureNames: readonly string[]; labelNames: readonly string[] };
  windowStart: number;
  windowEnd: number;
  sample: SampleSpec;
  reference?: SampleSpec;
  /**
   * The endpoint has a reference the host has not read: `ctx.reference` asks for it
   * (`wantReference`) and throws, and the host runs the window again with it. An app that never
   * reads `ctx.reference` (histogram-data-drift with its default decision) costs no read.
   */
  referenceDeferred?: true;
  /** Ground truth: its numeric columns follow the window's timestamps and latencies in the window's buffer. */
  groundTruth?: { matched: number; numeric: string[]; strings: string[] };
  config: unknown;
  /** The limits of `ctx.logArtifact` (plugin.json `limits`), enforced in the isolate before anything is copied out. */
  artifactLimits: ArtifactLimits;
}

export type { ArtifactLimits, LogLevel };

/**
 * The host's operations, called from inside the isolate. Handed to a context once when it is made
 * (a callback made per window would hold native memory until the isolate's garbage collector gets
 * round to it), in the order of {@link HOST_OPERATIONS}. Each names its window by sequence number:
 * the host answers only for the window running now.
 */
export interface HostOperations {
  /** A sample's numbers, column-major: numeric columns, then (a timed sample) timestamps, latencies and the ground truth's numeric columns. Undefined for an empty sample. */
  sampleColumns(seq: number, sample: SampleName): Float64Array | undefined;
  /** A sample's text part as JSON ({@link SampleText}). */
  sampleText(seq: number, sample: SampleName): string;
  /** The window's statistics as JSON. */
  sampleStats(seq: number): string;
  /** The reference's statistics as JSON. */
  featureStats(seq: number): string;
  /** A log line (fire and forget). */
  log(seq: number, level: LogLevel, message: string, fields: string): void;
  /**
   * An artifact of the window (`ctx.logArtifact`), checked and within its limits; the host checks
   * again. Answers '' when taken, else why not.
   */
  artifact(seq: number, name: string, contentType: string, body: string | Uint8Array): string;
  /** The app read `ctx.reference` of a window whose reference is deferred ({@link WindowMeta.referenceDeferred}). */
  wantReference(seq: number): void;
}

/** The order `bindHost` receives the host's operations in. */
export const HOST_OPERATIONS = [
  'sampleColumns',
  'sampleText',
  'sampleStats',
  'featureStats',
  'log',
  'artifact',
  'wantReference',
] as const satisfies ReadonlyArray<keyof HostOperations>;

/** The callbacks of {@link HostOperations}, in the order of {@link HOST_OPERATIONS}. */
export type HostOperationList = OperationsOf<typeof HOST_OPERATIONS>;

type OperationsOf<Names extends ReadonlyArray<keyof HostOperations>> = Names extends readonly [
  infer First extends keyof HostOperations,
  ...infer Rest extends ReadonlyArray<keyof HostOperations>,
]
  ? [HostOperations[First], ...OperationsOf<Rest>]
  : [];
