import type { DuckDBConnection } from '@duckdb/node-api';
import type { VintageYearTable } from '../../nomenclature/vintage-years.js';
import { appendRows } from '../core/duckdb.js';
import { UserError } from '../core/errors.js';
import { sqlString } from '../core/sql.js';

/**
 * The real year behind each commune's nominal vintages, for the indicator SQL: writes the temporary table
 * `_vintage_year (commune_code, vintage, year, source)` from the communes' vintages in `piece_class` and, given a
 * year table (`--vintage-years`), looks each one up by commune or département; without a table, or without a
 * row, the label is the year (`source = 'label'`). With a table the same rows are kept as the `vintage_year`
 * output table, so that every year used can be traced; without one the database is unchanged.
 *
 * Needs `piece`, `piece_class` and the stage's `_communes_in` (code, departement) in the database.
 *
 * @example
 * const fallbacks = await writeVintageYears(connection, loadVintageYears('ocs-grand-est'));
 * // [{ departement: '54', vintage: 2021, communes: 3, examples: ['54001', '54002', '54003'] }] → label used
 */

/** Communes of one département whose vintage has no year in the table: the label is used as the year. */
export interface VintageYearFallback {
  departement: string;
  vintage: number;
  communes: number;
  /** The first commune codes, at most 5. */
  examples: string[];
}

/** Writes `_vintage_year` (and `vintage_year` with a table); returns the communes that fell back to the label. */
export async function writeVintageYears(connection: DuckDBConnection, table: VintageYearTable | undefined): Promise<VintageYearFallback[]> {
  await connection.run(`CREATE TEMP TABLE _year_row (key VARCHAR NOT NULL, vintage INTEGER NOT NULL, year INTEGER NOT NULL, line INTEGER NOT NULL)`);
  await appendRows(connection, '_year_row', (table?.rows ?? []).map((r) => [r.key, r.vintage, r.year, r.line]));
  const key = table?.scope === 'commune' ? 'v.commune_code' : 'c.departement';
  await connection.run(`CREATE TEMP TABLE _vintage_year AS
    SELECT v.commune_code, v.vintage, coalesce(y.year, v.vintage) AS year,
           CASE WHEN y.year IS NULL THEN 'label' ELSE ${sqlString(table?.scope ?? 'label')} END AS source,
           c.departement, y.line
    FROM (SELECT DISTINCT p.commune_code, k.vintage FROM piece_class k JOIN piece p USING (piece_id)) v
    JOIN _communes_in c ON c.code = v.commune_code
    LEFT JOIN _year_row y ON y.key = ${key} AND y.vintage = v.vintage
    ORDER BY v.commune_code, v.vintage`);
  await connection.run('DROP TABLE _year_row');
  if (!table) return [];

  // Mixing table rows and labels can put a later vintage at the same or an earlier year: no period length then.
  const reader = await connection.runAndReadAll(`
    SELECT commune_code, departement, vintage, year, line, previous_vintage, previous_year, previous_line FROM (
      SELECT *, lag(vintage) OVER w AS previous_vintage, lag(year) OVER w AS previous_year, lag(line) OVER w AS previous_line
      FROM _vintage_year WINDOW w AS (PARTITION BY commune_code ORDER BY vintage))
    WHERE year <= previous_year ORDER BY commune_code, vintage LIMIT 1`);
  const clash = reader.getRowObjectsJS()[0];
  if (clash) {
    const origin = (year: unknown, line: unknown): string => (line === null ? `${year} (no row: the label)` : `${year} (line ${line})`);
    throw new UserError(
      `commune ${clash.commune_code} (département ${clash.departement}) has vintage ${clash.vintage} in year ${origin(clash.year, clash.line)}, ` +
        `not after vintage ${clash.previous_vintage} in year ${origin(clash.previous_year, clash.previous_line)}`,
      { file: table.file, remedy: 'give each of its vintages a row, with years increasing with the vintages' },
    );
  }
  await connection.run(`CREATE TABLE vintage_year AS
    SELECT commune_code, vintage, year, source FROM _vintage_year ORDER BY commune_code, vintage`);
  const fallbacks = await connection.runAndReadAll(`
    SELECT departement, vintage, count(*)::INTEGER AS communes, list(commune_code ORDER BY commune_code)[1:5] AS examples
    FROM _vintage_year WHERE source = 'label' GROUP BY ALL ORDER BY departement, vintage`);
  return fallbacks.getRowObjectsJS().map((r) => ({
    departement: String(r.departement),
    vintage: Number(r.vintage),
    communes: Number(r.communes),
    examples: (r.examples as unknown[]).map(String),
  }));
}

/** One warning line per fallback, for the log, the run summary and run_metadata. */
export function fallbackLine(f: VintageYearFallback): string {
  const communes = f.communes === 1 ? '1 commune' : `${f.communes} communes`;
  return `vintage ${f.vintage}: no year in the table for ${communes} of département ${f.departement} (${f.examples.join(', ')}${f.communes > f.examples.length ? ', …' : ''}); the label ${f.vintage} is used as its year`;
}
