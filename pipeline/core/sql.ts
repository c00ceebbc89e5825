/** SQL literals for DuckDB statements built in TypeScript (paths, names, comments): the one quoting rule. */

/** A single-quoted SQL string literal. */
export const sqlString = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/** A SQL list literal of strings, e.g. the files of `read_parquet([...])`. */
export const sqlList = (values: readonly string[]): string => `[${values.map(sqlString).join(', ')}]`;

/** A double-quoted SQL identifier (table or column name). */
export const sqlIdentifier = (name: string): string => `"${name.replace(/"/g, '""')}"`;
