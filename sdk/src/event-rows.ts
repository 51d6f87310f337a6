/**
 * Whether the inputs of an inference request are a single row written flat: a non-empty list
 * of scalars (numbers, strings, booleans, null) rather than a list of rows. MLRun's serving
 * (up to 1.7) pushes a request made from one dict that way (`"inputs": [5.1, 3.5, 1.4, 0.2]`),
 * and MLRun's stream processor reads it as one row: a list is a list of rows only when each
 * of its items is a row. So `[5.1]` is one row of one value, and rows of a one-feature model
 * are written `[[5.1], [4.9]]`. A list that holds both rows and scalars is a list of rows (and
 * its scalars are refused as rows).
 *
 * @example
 * ```ts
 * isFlatRow([5.1, 3.5, 1.4, 0.2]); // true: one row
 * isFlatRow([[5.1, 3.5], [4.9, 3.0]]); // false: two rows
 * isFlatRow([{ a: 1 }]); // false: one row, as an object
 * ```
 */
export function isFlatRow(inputs: readonly unknown[]): boolean {
  if (inputs.length === 0) return false;
  for (const v of inputs) if (typeof v === 'object' && v !== null) return false;
  return true;
}
