import cliProgress from 'cli-progress';

/** A progress bar of one piece of long work: drawn on a terminal only (never with --json, never into a pipe). */
export interface Progress {
  /** Set how far the work is, and its total when it becomes known or changes. */
  update(done: number, total?: number): void;
  /** A line of text: above the bar while it is drawn, else on stdout. */
  log(line: string): void;
  /** Stop drawing: the last state stays on the terminal. */
  stop(): void;
}

/**
 * A bar with rate and time left on stderr when it is a TTY and the output is not JSON; otherwise
 * one that draws nothing. `unit` names what is counted (`windows`, `KiB`).
 */
export function progressBar(what: string, unit: string, opts: { json: boolean; stream?: NodeJS.WriteStream }): Progress {
  const stream = opts.stream ?? process.stderr;
  if (opts.json || !stream.isTTY) return { update: () => undefined, log: (line) => void process.stdout.write(line), stop: () => undefined };
  const bars = new cliProgress.MultiBar(
    {
      stream,
      format: `${what} {bar} {value}/{total} ${unit} | {rate}/s | {eta_formatted} left`,
      hideCursor: true,
      etaBuffer: 20,
      barsize: 20,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = Date.now();
  let bar: cliProgress.SingleBar | undefined;
  const rate = (done: number) => (done / Math.max(0.001, (Date.now() - started) / 1000)).toFixed(1);
  return {
    update(done, total) {
      if (!bar) {
        bar = bars.create(total ?? 0, done, { rate: rate(done) });
        return;
      }
      if (total !== undefined) bar.setTotal(total);
      bar.update(done, { rate: rate(done) });
    },
    log(line) {
      if (bar) bars.log(line);
      else process.stdout.write(line);
    },
    stop() {
      if (bar) bars.stop();
      bar = undefined;
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
