/**
 * Columns kept in typed arrays (a scan's reused buffers, a writer's feature list) grow by replacing the array with
 * a copy twice as long.
 *
 * @example
 *   if (count === column.length) column = doubled(column);
 */
export function doubled<T extends Float64Array | Int32Array | Uint32Array | Uint8Array>(array: T): T {
  const larger = new (array.constructor as new (length: number) => T)(2 * array.length);
  larger.set(array);
  return larger;
}
