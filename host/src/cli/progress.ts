import cliProgress from 'cli-progress';

/** A progress bar of one piece of long work: drawn on a terminal only (never with --json, never into a pipe). */
export interface Progress {
  /** Set how far the work is, and its total when it becomes known or changes. */
  update(done: number, total?: number): void;
  /** Remove nothing, stop drawing: the last state stays on the terminal. */
  stop(): void;
}

const NONE: Progress = { update: () => undefined, stop: () => undefined };

/**
 * A bar with rate and time left on stderr when it is a TTY and the output is not JSON; otherwise
 * one that draws nothing. `unit` names what is counted (`windows`, `rows`).
 */
export function progressBar(what: string, unit: string, opts: { json: boolean; stream?: NodeJS.WriteStream }): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.json || !stream.isTTY) return NONE;
  const bar = new cliProgress.SingleBar(
    {
      stream,
      format: `${what} {bar} {value}/{total} ${unit} | {rate}/s | {eta_formatted} left`,
      hideCursor: true,
      etaBuffer: 20,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let running = false;
  const rate = (done: number) => (done / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(1);
  return {
    update(done, total) {
      if (!running) {
        bar.start(total ?? 0, done, { rate: rate(done) });
        running = true;
        return;
      }
      if (total !== undefined) bar.setTotal(total);
      bar.update(done, { rate: rate(done) });
    },
    stop() {
      if (running) bar.stop();
      running = false;
    },
  };
}

/** A bar of a request body being sent, in KiB (for `UploadProgress`); `stop` when the answer is in. */
export function uploadBar(
  what: string,
  opts: { json: boolean; stream?: NodeJS.WriteStream },
): { onUpload: (sent: number, total: number) => void; stop(): void } {
  const bar = progressBar(what, 'KiB', opts);
  return { onUpload: (sent, total) => bar.update(Math.ceil(sent / 1024), Math.ceil(total / 1024)), stop: () => bar.stop() };
}
