/** Reads the overlay's Parquet outputs back through DuckDB, as views `piece` and `piece_class`. */
import { DuckDBInstance } from '@duckdb/node-api';
import type { OverlayOutput } from '../../pipeline/overlay/index.js';

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

/** Area of a commune's pieces not artificialised at `from` and artificialised at `to` (the oracle tests' target). */
export async function artificialisedArea(out: OverlayOutput, communeCode: string, from: number, to: number): Promise<number> {
  const rows = await queryPieces(
    out,
    `SELECT coalesce(sum(p.area_m2), 0) AS area FROM piece p
       JOIN piece_class c0 ON c0.piece_id = p.piece_id AND c0.vintage = ${from} AND NOT c0.artificialised
       JOIN piece_class c1 ON c1.piece_id = p.piece_id AND c1.vintage = ${to} AND c1.artificialised
     WHERE p.commune_code = '${communeCode}'`,
  );
  return rows[0]!.area as number;
}
