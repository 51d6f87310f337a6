import type { ComponentChildren } from 'preact';

/** What a row's `<tr>` carries besides its cells: the `data-*` attributes tests and styles find it by. */
export type RowAttrs = Record<`data-${string}`, string | number | undefined>;

/**
 * A table of the dashboard: one heading per column, a row per item with the cells `cells` gives,
 * and, when `actions` is given, a last unheaded column with the item's buttons.
 */
export function Table<R>({
  class: cls,
  caption,
  head,
  rows,
  cells,
  attrs,
  actions,
}: {
  class?: string;
  caption?: ComponentChildren;
  head: ComponentChildren[];
  rows: readonly R[];
  cells: (r: R) => ComponentChildren;
  attrs?: (r: R) => RowAttrs;
  actions?: (r: R) => ComponentChildren;
}) {
  return (
    <table class={cls}>
      {caption !== undefined && <caption>{caption}</caption>}
      <thead>
        <tr>
          {head.map((h) => (
            <th scope="col">{h}</th>
          ))}
          {actions && <th scope="col" />}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr {...attrs?.(r)}>
            {cells(r)}
            {actions && <td>{actions(r)}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
