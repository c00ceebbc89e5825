import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { inStage, UserError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { AtomicOutput } from '../core/atomic-output.js';
import { sqlIdentifier, sqlString } from '../core/sql.js';
import { openDuckDB } from '../core/duckdb.js';

/**
 * Exports stage: every table of the output database to `OUT/parquet/<table>.parquet` (GeoParquet with
 * the Lambert-93 PROJJSON CRS where the table has a GEOMETRY column) and `OUT/csv/<table>.csv`
 * (geometry as WKT in a `<column>_wkt` column).
 *
 * Rows are ordered by every non-geometry column (the key columns come first in every table) and the
 * database is opened with one thread per statement, so the same database always gives the same bytes.
 *
 * @example
 * await exportTables({ dbPath: 'OUT/ocs.duckdb', parquetDir: 'OUT/parquet', csvDir: 'OUT/csv' });
 */

export interface ExportInput {
  dbPath: string;
  /** Directory receiving `<table>.parquet` (normally `OUT/parquet`). */
  parquetDir: string;
  /** Directory receiving `<table>.csv` (normally `OUT/csv`). */
  csvDir: string;
  /** Tables to export; default: every table of the database. */
  tables?: string[];
  logger?: Logger;
}

export interface ExportResult {
  files: string[];
  rows: Record<string, number>;
  seconds: number;
}

export interface ColumnInfo {
  name: string;
  type: string;
}

export const isGeometryType = (type: string): boolean => type === 'GEOMETRY' || type.startsWith('GEOMETRY(');

/** An attached database by name, or the one the connection opened. */
const databaseName = (database: string | undefined): string => (database === undefined ? 'current_database()' : sqlString(database));

/** Tables of the main schema, sorted by name. */
export async function listTables(connection: DuckDBConnection, database?: string): Promise<string[]> {
  const reader = await connection.runAndReadAll(
    `SELECT table_name FROM duckdb_tables() WHERE database_name = ${databaseName(database)} AND schema_name = 'main' AND NOT temporary ORDER BY table_name`,
  );
  return (reader.getRows() as Array<[string]>).map(([name]) => name);
}

export async function tableColumns(connection: DuckDBConnection, table: string, database?: string): Promise<ColumnInfo[]> {
  const reader = await connection.runAndReadAll(
    `SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ${databaseName(database)} AND schema_name = 'main'
     AND table_name = ${sqlString(table)} ORDER BY column_index`,
  );
  return (reader.getRows() as Array<[string, string]>).map(([name, type]) => ({ name, type }));
}

/** ORDER BY clause over every non-geometry column, in table order. */
export function orderByAll(columns: ColumnInfo[]): string {
  const keys = columns.filter((c) => !isGeometryType(c.type)).map((c) => sqlIdentifier(c.name));
  return keys.length > 0 ? `ORDER BY ${keys.join(', ')}` : '';
}

export async function exportTables(input: ExportInput): Promise<ExportResult> {
  return inStage('exports', undefined, () => writeExports(input));
}

/**
 * Tables exported at once, each on its own connection: every statement runs on one thread (the same bytes every
 * time), so two connections keep both cores busy through the two large tables (piece and piece_class).
 */
const EXPORT_CONNECTIONS = 2;

async function writeExports(input: ExportInput): Promise<ExportResult> {
  const started = performance.now();
  const logger = input.logger ?? silentLogger;
  if (!existsSync(input.dbPath)) throw new UserError('database not found', { file: input.dbPath, remedy: 'run `ocs-zan run` first' });
  const instance = await openDuckDB(input.dbPath, { access_mode: 'READ_ONLY', threads: '1' });
  const connections: DuckDBConnection[] = [await instance.connect()];
  try {
    const available = await listTables(connections[0]!);
    const tables = input.tables ?? available;
    const unknown = tables.filter((t) => !available.includes(t));
    if (unknown.length > 0) {
      throw new UserError(`no table ${unknown.join(', ')} in the database`, { file: input.dbPath, remedy: `tables: ${available.join(', ')}` });
    }
    const { parquetDir, csvDir } = input;
    await mkdir(parquetDir, { recursive: true });
    await mkdir(csvDir, { recursive: true });
    while (connections.length < EXPORT_CONNECTIONS) connections.push(await instance.connect());
    const rows: Record<string, number> = {};
    const exportTable = async (connection: DuckDBConnection, table: string): Promise<void> => {
      const columns = await tableColumns(connection, table);
      const parquet = path.join(parquetDir, `${table}.parquet`);
      const csv = path.join(csvDir, `${table}.csv`);
      await connection.run(`COPY (SELECT * FROM ${sqlIdentifier(table)} ${orderByAll(columns)}) TO ${sqlString(parquet)} (FORMAT parquet, COMPRESSION zstd)`);
      const csvColumns = columns
        .map((c) => (isGeometryType(c.type) ? `ST_AsText(${sqlIdentifier(c.name)}) AS ${sqlIdentifier(`${c.name}_wkt`)}` : sqlIdentifier(c.name)))
        .join(', ');
      // The CSV from the Parquet just written, already in order: one thread reads it in file order, where sorting the
      // table again (the region's 9.4 M pieces with their geometry) would spill it to disk a second time.
      await connection.run(`COPY (SELECT ${csvColumns} FROM read_parquet(${sqlString(parquet)})) TO ${sqlString(csv)} (FORMAT csv, HEADER true)`);
      const count = await connection.runAndReadAll(`SELECT count(*) FROM ${sqlIdentifier(table)}`);
      rows[table] = Number(count.getRows()[0]![0]);
      logger.info(`export: ${table} (${rows[table]} rows)`);
    };
    let next = 0;
    await Promise.all(
      connections.map(async (connection) => {
        while (next < tables.length) await exportTable(connection, tables[next++]!);
      }),
    );
    const files = tables.flatMap((table) => [path.join(parquetDir, `${table}.parquet`), path.join(csvDir, `${table}.csv`)]);
    return { files, rows, seconds: (performance.now() - started) / 1000 };
  } finally {
    for (const connection of connections) connection.closeSync();
    instance.closeSync();
  }
}

/**
 * `ocs-zan export`: writes `<outDir>/parquet` and `<outDir>/csv` atomically, refusing existing ones without
 * `force` (`ocs-zan run` calls exportTables inside its own atomic output directory instead).
 */
export async function exportToDirectory(
  input: Omit<ExportInput, 'parquetDir' | 'csvDir'> & { outDir: string; force?: boolean },
): Promise<ExportResult> {
  if (!existsSync(input.dbPath)) throw new UserError('database not found', { file: input.dbPath, remedy: 'run `ocs-zan run` first' });
  const options = { force: input.force, directory: true, inputs: [input.dbPath] };
  const parquet = await AtomicOutput.create(path.join(input.outDir, 'parquet'), options);
  const csv = await AtomicOutput.create(path.join(input.outDir, 'csv'), options).catch(async (error: unknown) => {
    await parquet.abort();
    throw error;
  });
  try {
    const result = await exportTables({ ...input, parquetDir: parquet.tempPath, csvDir: csv.tempPath });
    await parquet.commit();
    await csv.commit();
    const rename = (file: string): string =>
      file.startsWith(parquet.tempPath) ? parquet.finalPath + file.slice(parquet.tempPath.length) : csv.finalPath + file.slice(csv.tempPath.length);
    return { ...result, files: result.files.map(rename) };
  } catch (error) {
    await parquet.abort();
    await csv.abort();
    throw error;
  }
}
