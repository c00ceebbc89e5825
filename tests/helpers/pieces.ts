/** Reads the overlay's Parquet outputs back through DuckDB, as views `piece` and `piece_class`. */
import { DuckDBInstance } from '@duckdb/node-api';
import type { OverlayOutput } from '../../pipeline/overlay.js';

export async function queryPieces(out: OverlayOutput, sql: string): Promise<Array<Record<string, unknown>>> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    await conn.run(`CREATE VIEW piece AS SELECT * FROM read_parquet('${out.pieceParquet}')`);
    await conn.run(`CREATE VIEW piece_class AS SELECT * FROM read_parquet('${out.pieceClassParquet}')`);
    return (await conn.runAndReadAll(sql)).getRowObjectsJS() as Array<Record<string, unknown>>;
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
