import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { PROJECT_ROOT } from '../core/paths.js';
import { sqlString } from '../core/sql.js';
import { loadZanRules, type ZanRules } from '../../nomenclature/zan-rules.js';
import { applyComments, applyViewComments, INDICATOR_COMMENTS } from './comments.js';

/**
 * Indicators: ZAN artificialisation, imperméabilisation, ENAF consumption, transitions and the 2021–2031
 * trajectory, computed by the SQL files of pipeline/indicators/sql/ over the atomic pieces of the output database.
 *
 * Reads `piece`, `piece_class`, `membership`, `territory` (already in the database), the stage's temporary
 * `_vintage_year` (the real year behind each commune's vintage labels, written by real-years.ts) and the trajectory
 * inputs `_cerema_in`, `_targets_in`, `_planning_in` (pipeline/indicators/index.ts), and writes the indicator tables
 * of docs/OUTPUT_SCHEMA.md, their COMMENTs and the `v_*_ha` views. The files run in file-name order: 00–09 build
 * scratch tables (per-commune vintages, periods, changes, stock) and the input table consumption_cerema, 10–29 the
 * tables, 30–39 the views, 99 drops the scratch. Each file opens with a comment saying what it computes. The options reach the SQL as DuckDB variables
 * (`getvariable('reduction')`), so a file can be run by hand in the duckdb shell after the same `SET VARIABLE`s.
 *
 * Everything is computed per commune first (each commune with its own vintage years, which differ between
 * départements), annualised per commune, then summed to higher levels through `membership`. Higher
 * levels combine communes by vintage rank: rank k of a territory is every commune's k-th vintage.
 *
 * @example
 * const db = await openDuckDB('OUT/ocs.duckdb');
 * const connection = await db.connect();
 * await runIndicatorSql(connection, { trajectory: loadZanRules().trajectory, cerema: true, planningDocuments: false });
 */

export interface IndicatorOptions {
  /** Trajectory parameters (nomenclature/zan-rules.yml); default: loadZanRules().trajectory. */
  trajectory?: ZanRules['trajectory'];
  /** A Cerema file was given (_cerema_in filled): the trajectory's source is 'cerema'. */
  cerema?: boolean;
  /** A planning documents file was given (_planning_in filled): the garantie communale applies to eligible communes. */
  planningDocuments?: boolean;
  /** Uncovered share of a territory's area above which its coverage is `partial`: 0.005. */
  partialThreshold?: number;
}

/** Indicator tables in creation order, with their sort keys (tests check every one is commented and sorted). */
export const INDICATOR_TABLES = {
  consumption_cerema: ['level', 'code', 'year', 'destination'],
  stock: ['level', 'code', 'vintage_rank', 'category'],
  stock_summary: ['level', 'code', 'vintage_rank'],
  artif_flux: ['level', 'code', 'from_rank', 'to_rank'],
  artif_flux_detail: ['level', 'code', 'from_rank', 'to_rank', 'direction', 'from_cs', 'to_cs', 'from_us', 'to_us'],
  imperm_flux: ['level', 'code', 'from_rank', 'to_rank'],
  enaf_consumption: ['level', 'code', 'from_rank', 'to_rank', 'destination'],
  enaf_summary: ['level', 'code', 'from_rank', 'to_rank'],
  transition: ['level', 'code', 'from_rank', 'to_rank', 'from_category', 'to_category'],
  consumption_comparison: ['level', 'code', 'from_rank', 'to_rank'],
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
  const rules = options.trajectory ?? loadZanRules().trajectory;
  const [referenceStart, referenceEnd] = rules.reference;
  const [allowanceStart, allowanceEnd] = rules.allowance;
  // Numbers are written as SQL literals, so they keep the types literals had inline (INTEGER, DECIMAL).
  const variables: Record<string, number | string | boolean> = {
    reference_start: referenceStart,
    reference_end: referenceEnd,
    reference_years: referenceEnd - referenceStart,
    allowance_start: allowanceStart,
    allowance_end: allowanceEnd,
    reduction: rules.defaultReduction,
    commune_floor_m2: rules.communeGuaranteeM2,
    ocs_min_overlap_years: rules.ocsReference.minOverlapYears,
    ocs_max_outside_share: rules.ocsReference.maxOutsideShare,
    cerema_given: options.cerema ?? false,
    planning_given: options.planningDocuments ?? false,
    partial_threshold: options.partialThreshold ?? 0.005,
  };
  for (const [name, value] of Object.entries(variables)) {
    await connection.run(`SET VARIABLE ${name} = ${typeof value === 'string' ? sqlString(value) : String(value).toUpperCase()}`);
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
