import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../core/errors.js';
import { isGeometryType, listTables, tableColumns, type ColumnInfo } from './index.js';
import { sqlIdentifier, sqlString } from '../core/sql.js';
import { openDuckDB } from '../core/duckdb.js';

/**
 * Canonical dump of one table, from a Parquet file or a DuckDB database, so that tests compare text
 * instead of binaries: columns with their types, rows sorted, doubles rounded to 1e-6, geometry as WKT
 * (GEOMETRY columns, and WKB BLOB columns named `geom`), other BLOBs as their sha256, no volatile metadata.
 *
 * @example
 * const text = await dumpTable('OUT/parquet/stock.parquet');
 * const same = await dumpTable('OUT/ocs.duckdb#stock');
 */

export interface TableDump {
  source: string;
  columns: ColumnInfo[];
  rows: unknown[][];
}

const ROUNDING = 1e6;

/** `FILE.parquet` or `FILE.duckdb#table`. */
export async function readTableDump(spec: string): Promise<TableDump> {
  const hash = spec.lastIndexOf('#');
  const file = hash >= 0 ? spec.slice(0, hash) : spec;
  const table = hash >= 0 ? spec.slice(hash + 1) : undefined;
  if (!existsSync(file)) throw new UserError('file not found', { file });
  const instance = await openDuckDB(':memory:', { threads: '1' });
  const connection = await instance.connect();
  try {
    let from: string;
    let columns: ColumnInfo[];
    if (file.endsWith('.parquet')) {
      if (table !== undefined) throw new UserError('a Parquet file holds one table: drop the #table suffix', { file });
      from = `read_parquet(${sqlString(file)})`;
      const reader = await connection.runAndReadAll(`DESCRIBE SELECT * FROM ${from}`);
      columns = (reader.getRows() as Array<[string, string]>).map(([name, type]) => ({ name, type }));
    } else {
      await connection.run(`ATTACH ${sqlString(file)} AS src (READ_ONLY)`);
      const tables = await listTables(connection, 'src');
      if (table === undefined || !tables.includes(table)) {
        throw new UserError(table === undefined ? 'which table?' : `no table ${table}`, {
          file,
          remedy: `name one as FILE.duckdb#table: ${tables.join(', ')}`,
        });
      }
      from = `src.main.${sqlIdentifier(table)}`;
      columns = await tableColumns(connection, table, 'src');
    }
    const select = columns.map((c) => {
      if (isGeometryType(c.type)) return `ST_AsText(${sqlIdentifier(c.name)})`;
      if (c.type === 'BLOB' && c.name === 'geom') return `ST_AsText(ST_GeomFromWKB(${sqlIdentifier(c.name)}))`;
      return sqlIdentifier(c.name);
    });
    const reader = await connection.runAndReadAll(`SELECT ${select.join(', ')} FROM ${from}`);
    const rows = reader.getRows().map((row) => row.map(canonicalValue));
    const keyed = rows.map((row) => [JSON.stringify(row), row] as const);
    keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return {
      source: table === undefined ? path.basename(file) : `${path.basename(file)}#${table}`,
      columns: columns.map((c) => ({ name: c.name, type: canonicalType(c.type) })),
      rows: keyed.map(([, row]) => row),
    };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** The dump as JSON text, one row per line so that diffs stay readable. */
export async function dumpTable(spec: string): Promise<string> {
  const dump = await readTableDump(spec);
  const rows = dump.rows.map((row) => JSON.stringify(row)).join(',\n');
  return `{"source":${JSON.stringify(dump.source)},"columns":${JSON.stringify(dump.columns)},"row_count":${dump.rows.length},"rows":[\n${rows}\n]}\n`;
}

/** GEOMETRY('<projjson>') → GEOMETRY(EPSG:2154); other types unchanged. */
function canonicalType(type: string): string {
  const match = /^GEOMETRY\('(.*)'\)$/s.exec(type);
  if (!match) return type;
  const crs = JSON.parse(match[1]!.replace(/''/g, "'")) as { id?: { authority: string; code: number }; name?: string };
  return `GEOMETRY(${crs.id ? `${crs.id.authority}:${crs.id.code}` : (crs.name ?? 'unknown')})`;
}

function canonicalValue(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') {
    const rounded = Math.round(value * ROUNDING) / ROUNDING;
    return Object.is(rounded, -0) ? 0 : rounded;
  }
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Uint8Array) return `sha256:${createHash('sha256').update(value).digest('hex')}`;
  if (typeof value === 'object' && 'bytes' in value && (value as { bytes: unknown }).bytes instanceof Uint8Array) {
    return `sha256:${createHash('sha256').update((value as { bytes: Uint8Array }).bytes).digest('hex')}`;
  }
  if (typeof value === 'object' && 'items' in value && Array.isArray((value as { items: unknown }).items)) {
    return (value as { items: unknown[] }).items.map(canonicalValue);
  }
  return String(value);
}
