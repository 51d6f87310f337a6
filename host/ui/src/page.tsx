import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

/**
 * What a page loads and the actions it runs: `data` once loaded, `error` when loading failed,
 * `note` the outcome of the last action; `act` runs a change, notes it and loads again.
 */
export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  note: string | undefined;
  setNote: (note: string | undefined) => void;
  reload: () => Promise<void>;
  act: <R>(change: () => Promise<R>, done: string | ((r: R) => string), failed?: string) => Promise<void>;
}

export function useLoaded<T>(load: () => Promise<T>, deps: unknown[] = []): Loaded<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [note, setNote] = useState<string>();
  const reload = () =>
    load()
      .then((d) => {
        setData(d);
        setError(undefined);
      })
      .catch((e: Error) => setError(e.message));
  useEffect(() => void reload(), deps);
  const act = <R,>(change: () => Promise<R>, done: string | ((r: R) => string), failed = '') =>
    change()
      .then((r) => setNote(typeof done === 'string' ? done : done(r)))
      .then(reload)
      .catch((e: Error) => setNote(`${failed}${e.message}`));
  return { data, error, note, setNote, reload, act };
}

/** The frame of a page: its heading, then the error, "Loading…", or the note of the last action and the body. */
export function Page<T>({ title, loaded, children }: { title: ComponentChildren; loaded: Loaded<T>; children: (data: T) => ComponentChildren }) {
  if (loaded.error)
    return (
      <p role="alert" class="error">
        {loaded.error}
      </p>
    );
  if (loaded.data === undefined) return <p>Loading…</p>;
  return (
    <section>
      <h1>{title}</h1>
      {loaded.note && <p role="status">{loaded.note}</p>}
      {children(loaded.data)}
    </section>
  );
}
