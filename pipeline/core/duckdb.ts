import type { DuckDBAppender, DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from './sql.js';

/** One value of a row to append; null appends SQL NULL. */
export type Cell = string | number | bigint | boolean | Uint8Array | null;

const APPEND_BY_TYPE: Record<string, (appender: DuckDBAppender, value: Exclude<Cell, null>) => void> = {
  VARCHAR: (a, v) => a.appendVarchar(String(v)),
  INTEGER: (a, v) => a.appendInteger(Number(v)),
  BIGINT: (a, v) => a.appendBigInt(BigInt(v as number | bigint)),
  DOUBLE: (a, v) => a.appendDouble(Number(v)),
  BOOLEAN: (a, v) => a.appendBoolean(Boolean(v)),
  BLOB: (a, v) => a.appendBlob(v as Uint8Array),
};

/**
 * Appends rows (values in column order) to an existing table through DuckDB's appender, each value appended
 * as its column's type, so callers list values instead of spelling one append call per column.
 */
export async function appendRows(connection: DuckDBConnection, table: string, rows: Iterable<readonly Cell[]>): Promise<void> {
  const reader = await connection.runAndReadAll(
    `SELECT data_type FROM duckdb_columns() WHERE table_name = ${sqlString(table)} ORDER BY column_index`,
  );
  const appenders = (reader.getRows() as Array<[string]>).map(([type]) => {
    const append = APPEND_BY_TYPE[type];
    if (!append) throw new Error(`appendRows: column type ${type} of ${table} is not supported`);
    return append;
  });
  const appender = await connection.createAppender(table);
  try {
    for (const row of rows) {
      if (row.length !== appenders.length) throw new Error(`appendRows: ${row.length} values for the ${appenders.length} columns of ${table}`);
      row.forEach((value, i) => (value === null ? appender.appendNull() : appenders[i]!(appender, value)));
      appender.endRow();
    }
  } finally {
    appender.closeSync();
  }
}
