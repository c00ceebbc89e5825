import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { PROJECT_ROOT } from '../core/paths.js';
import { sqlString } from '../core/sql.js';
import { applyComments, applyViewComments, INDICATOR_COMMENTS } from './comments.js';

/**
 * Indicators: ZAN artificialisation, imperméabilisation, ENAF consumption, transitions and the 2021–2031
 * trajectory, computed by the SQL files of pipeline/indicators/sql/ over the atomic pieces of the output database.
 *
 * Reads `piece`, `piece_class`, `membership`, `territory` (already in the database) and the stage's temporary
 * `_vintage_year` (the real year behind each commune's vintage labels, written by real-years.ts), and writes the
 * indicator tables of docs/OUTPUT_SCHEMA.md, their COMMENTs and the `v_*_ha` views. The files run in file-name order: 00–09 build
 * scratch tables (per-commune vintages, periods, changes, stock), 10–19 the tables, 20–29 the views, 99 drops the
 * scratch. Each file opens with a comment saying what it computes. The options reach the SQL as DuckDB variables
 * (`getvariable('reduction')`), so a file can be run by hand in the duckdb shell after the same `SET VARIABLE`s.
 *
 * Everything is computed per commune first (each commune with its own vintage years, which differ between
 * départements), annualised per commune, then summed to higher levels through `membership`. Higher
 * levels combine communes by vintage rank: rank k of a territory is every commune's k-th vintage.
 *
 * @example
 * const db = await DuckDBInstance.create('OUT/ocs.duckdb');
 * const connection = await db.connect();
 * await runIndicatorSql(connection, { referencePeriod: [2011, 2021] });
 */

export interface IndicatorOptions {
  /** Reference decade [start, end): 1 Jan start → 1 Jan end. Loi Climat et Résilience: [2011, 2021]. */
  referencePeriod?: [number, number];
  /** Target decade [start, end) for the ceiling and projection: [2021, 2031]. */
  targetPeriod?: [number, number];
  /** Reduction of ENAF consumption required over the target decade: 0.5. */
  reduction?: number;
  /** Minimum ceiling per commune in m² (loi 2023-630: 1 ha). */
  communeFloorM2?: number;
  /** Uncovered share of a territory's area above which its coverage is `partial`: 0.005. */
  partialThreshold?: number;
}

export const OCS_MEASURE = 'OCS (mesure par occupation du sol, pas le chiffre officiel Cerema/fichiers fonciers)';

/** Indicator tables in creation order, with their sort keys (tests check every one is commented and sorted). */
export const INDICATOR_TABLES = {
  stock: ['level', 'code', 'vintage_rank', 'category'],
  stock_summary: ['level', 'code', 'vintage_rank'],
  artif_flux: ['level', 'code', 'from_rank', 'to_rank'],
  artif_flux_detail: ['level', 'code', 'from_rank', 'to_rank', 'direction', 'from_cs', 'to_cs', 'from_us', 'to_us'],
  imperm_flux: ['level', 'code', 'from_rank', 'to_rank'],
  enaf_consumption: ['level', 'code', 'from_rank', 'to_rank', 'destination'],
  enaf_summary: ['level', 'code', 'from_rank', 'to_rank'],
  transition: ['level', 'code', 'from_rank', 'to_rank', 'from_category', 'to_category'],
  trajectory: ['level', 'code'],
  check_ign_difference: ['level', 'code', 'period', 'measure'],
} as const;

export const INDICATOR_SQL_DIR = path.join(PROJECT_ROOT, 'pipeline', 'indicators', 'sql');

/** The SQL files in the order they run. */
export function indicatorSqlFiles(): string[] {
  return readdirSync(INDICATOR_SQL_DIR).filter((name) => name.endsWith('.sql')).sort().map((name) => path.join(INDICATOR_SQL_DIR, name));
}

/** Computes every indicator table, its comments and the hectare views. Idempotent: drops and recreates them. */
export async function runIndicatorSql(connection: DuckDBConnection, options: IndicatorOptions = {}): Promise<void> {
  const [referenceStart, referenceEnd] = options.referencePeriod ?? [2011, 2021];
  const [targetStart, targetEnd] = options.targetPeriod ?? [2021, 2031];
  // Numbers are written as SQL literals, so they keep the types literals had inline (INTEGER, DECIMAL).
  const variables: Record<string, number | string> = {
    reference_start: referenceStart,
    reference_end: referenceEnd,
    reference_years: referenceEnd - referenceStart,
    target_years: targetEnd - targetStart,
    reduction: options.reduction ?? 0.5,
    commune_floor_m2: options.communeFloorM2 ?? 10_000,
    partial_threshold: options.partialThreshold ?? 0.005,
    ocs_measure: OCS_MEASURE,
  };
  for (const [name, value] of Object.entries(variables)) {
    await connection.run(`SET VARIABLE ${name} = ${typeof value === 'string' ? sqlString(value) : String(value)}`);
  }
  for (const file of indicatorSqlFiles()) {
    try {
      await connection.run(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new Error(`${path.basename(file)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
  await applyViewComments(connection);
  await applyComments(connection, INDICATOR_COMMENTS);
}
