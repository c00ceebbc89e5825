import { mkdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBAppender, type DuckDBConnection } from '@duckdb/node-api';
import { UserError } from './errors.js';
import { removeDeadScratch } from './scratch.js';
import { sqlString } from './sql.js';

/** Environment variable bounding each DuckDB instance's memory (DuckDB size syntax: `512MB`, `2GB`). */
export const DUCKDB_MEMORY_ENV = 'OCS_ZAN_DUCKDB_MEMORY';
/**
 * DuckDB's own default, 80 % of RAM per instance, let the tile index's sort of the region's 9.4 M pieces hold
 * 15 GB; with a bound, sorts and joins spill to disk instead.
 */
const DEFAULT_DUCKDB_MEMORY = '1GB';
const DUCKDB_SIZE = /^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i;

const SPILL_PREFIX = 'ocs-zan-duckdb-';
let spillRoot: string | undefined;
let instancesOpened = 0;

/** This process's folder for DuckDB spill files (one sub-folder per instance), removed when the process exits. */
function spillDirectory(): string {
  if (spillRoot === undefined) {
    removeDeadScratch(SPILL_PREFIX);
    const root = path.join(os.tmpdir(), `${SPILL_PREFIX}${process.pid}`);
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
    spillRoot = root;
  }
  instancesOpened += 1;
  // DuckDB creates the last folder of temp_directory only.
  const folder = path.join(spillRoot, String(instancesOpened));
  mkdirSync(folder, { recursive: true });
  return folder;
}

function duckdbMemoryLimit(): string {
  const value = process.env[DUCKDB_MEMORY_ENV]?.trim() || DEFAULT_DUCKDB_MEMORY;
  if (!DUCKDB_SIZE.test(value)) {
    throw new UserError(`${DUCKDB_MEMORY_ENV}=${value} is not a size`, { remedy: `set it like 512MB or 2GB, or unset it for ${DEFAULT_DUCKDB_MEMORY}` });
  }
  return value;
}

/**
 * Opens a DuckDB database (a file or `:memory:`) with bounded memory: `memory_limit` from OCS_ZAN_DUCKDB_MEMORY
 * (default 1GB) and spill files in the system's temp folder rather than beside the database or in the working
 * directory. `options` are DuckDB settings (access_mode, threads, …).
 */
export async function openDuckDB(database: string, options: Record<string, string> = {}): Promise<DuckDBInstance> {
  return DuckDBInstance.create(database, { memory_limit: duckdbMemoryLimit(), temp_directory: spillDirectory(), ...options });
}

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
