/**
 * Which (endpoint, window start) pairs the results store holds a live window of, for the windows
 * stored since it was opened: what tells whether an output is the first of its window (the
 * endpoint's `windowsAnalysed` counts it) without a LevelDB iterator over the time index each
 * time (an iterator's seek was about 100 µs of the writer's CPU an output at 10,000 endpoints).
 *
 * Authoritative above a floor only: the newest window start the store held when opened, raised to
 * the starts it forgets to stay within `max` pairs. At or below the floor, {@link has} answers
 * `undefined` and the store asks its time index. The store keeps it true: {@link add} once a batch
 * is written, {@link expireBefore} before its time index loses those starts (which raises the
 * floor: an expiry that fails half-way leaves them to the index).
 * @module
 */
export class WindowGroups {
  /** Starts at or below it are not known here. */
  private floor = -Infinity;
  private readonly byStart = new Map<number, Set<string>>();
  private size = 0;

  /** @param max pairs kept (the oldest starts are forgotten beyond it). */
  constructor(private readonly max = 200_000) {}

  /** The newest window start of the store when opened (none: every start is known here). */
  opened(newestStart: number | undefined): void {
    this.byStart.clear();
    this.size = 0;
    this.floor = newestStart ?? -Infinity;
  }

  /** Whether the store holds a live window of the endpoint at `start`; undefined: not known here. */
  has(endpointId: string, start: number): boolean | undefined {
    if (start <= this.floor) return undefined;
    return this.byStart.get(start)?.has(endpointId) ?? false;
  }

  /** A live window of the endpoint at `start` is written. */
  add(endpointId: string, start: number): void {
    if (start <= this.floor) return;
    let ids = this.byStart.get(start);
    if (!ids) this.byStart.set(start, (ids = new Set()));
    if (ids.has(endpointId)) return;
    ids.add(endpointId);
    this.size++;
    while (this.size > this.max) this.forgetOldest();
  }

  /** The time index is losing the windows of starts before `cutoff`: those starts are asked of it from now on. */
  expireBefore(cutoff: number): void {
    this.floor = Math.max(this.floor, cutoff - 1);
    for (const [start, ids] of this.byStart) {
      if (start >= cutoff) continue;
      this.byStart.delete(start);
      this.size -= ids.size;
    }
  }

  private forgetOldest(): void {
    let oldest = Infinity;
    for (const start of this.byStart.keys()) if (start < oldest) oldest = start;
    this.size -= this.byStart.get(oldest)!.size;
    this.byStart.delete(oldest);
    this.floor = Math.max(this.floor, oldest);
  }
}
