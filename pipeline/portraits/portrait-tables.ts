/**
 * SQL for the portrait tables written into `OUT/ocs.duckdb`:
 * - `portrait_parent`: each territory's parent (commune → EPCI, EPCI/SCoT → département, département → région;
 *   falling back to the next level up when a level is missing; majority of communes when a territory spans several).
 * - `portrait_territory`: one wide row per territory with everything a portrait headlines, in hectares.
 * Column sets depend on the vintage ranks and periods present, so the SQL is generated from them.
 *
 * @example const sql = portraitTablesSql({ ranks: 3, periods: [[1, 2], [2, 3], [1, 3]] });
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../core/paths.js';
import { DESTINATIONS } from '../core/types.js';
import { sqlString } from '../core/sql.js';

export interface PortraitShape {
  /** Number of vintage ranks (1 = first vintage). */
  ranks: number;
  /** (from_rank, to_rank) periods present in `artif_flux`, sorted. */
  periods: Array<[number, number]>;
}

export interface ColumnDoc {
  name: string;
  comment: string;
}


const periodKey = ([a, b]: [number, number]): string => `r${a}_r${b}`;

/** Parent levels in order of preference. */
export const PARENT_LEVELS: Readonly<Record<string, readonly string[]>> = {
  commune: ['epci', 'departement', 'region'],
  epci: ['departement', 'region'],
  scot: ['departement', 'region'],
  departement: ['region'],
  region: [],
};

function parentSql(): string {
  const hierarchy = Object.entries(PARENT_LEVELS)
    .flatMap(([level, parents]) => parents.map((parent, i) => `(${sqlString(level)}, ${sqlString(parent)}, ${i + 1})`))
    .join(', ');
  return `
CREATE OR REPLACE TABLE portrait_parent AS
WITH hierarchy(level, parent_level, priority) AS (VALUES ${hierarchy}),
counts AS (
  SELECT c.level, c.code, h.parent_level, h.priority, p.code AS parent_code, count(*) AS communes
  FROM membership c
  JOIN hierarchy h ON h.level = c.level
  JOIN membership p ON p.commune_code = c.commune_code AND p.level = h.parent_level
  GROUP BY ALL
)
SELECT level, code, parent_level, parent_code, communes AS shared_communes FROM counts
QUALIFY row_number() OVER (PARTITION BY level, code ORDER BY priority, communes DESC, parent_code) = 1
ORDER BY level, code;
COMMENT ON TABLE portrait_parent IS 'Parent territory of each territory for portraits and sibling comparisons: commune → EPCI, EPCI and SCoT → département, département → région (next level up when missing; the parent holding most of its communes when it spans several)';
COMMENT ON COLUMN portrait_parent.level IS 'Level of the territory';
COMMENT ON COLUMN portrait_parent.code IS 'Code of the territory';
COMMENT ON COLUMN portrait_parent.parent_level IS 'Level of its parent';
COMMENT ON COLUMN portrait_parent.parent_code IS 'Code of its parent';
COMMENT ON COLUMN portrait_parent.shared_communes IS 'Number of the territory''s communes that belong to the parent';
`;
}

type SummaryColumn = { each_destination: true } | { name: string; column?: string; hectares?: boolean; sql?: string; comment: string };

/** The fixed columns after the per-vintage and per-period ones: data, in portrait-columns.yml. */
const SUMMARY_COLUMNS = parse(readFileSync(path.join(PROJECT_ROOT, 'pipeline', 'portraits', 'portrait-columns.yml'), 'utf8')) as SummaryColumn[];

/** The wide portrait columns with their SQL expressions (over the CTEs below) and comments. */
function portraitColumns(shape: PortraitShape): Array<ColumnDoc & { sql: string }> {
  const cols: Array<ColumnDoc & { sql: string }> = [
    { name: 'level', sql: 't.level', comment: 'Territory level' },
    { name: 'code', sql: 't.code', comment: 'Territory code (INSEE, SIREN or SCoT id)' },
    { name: 'name', sql: 't.name', comment: 'Territory name' },
    { name: 'coverage_status', sql: 't.coverage_status', comment: 'OCS coverage of the territory: complete_uniform, complete_mixed, partial, no_data' },
    { name: 'vintages', sql: 't.vintages', comment: 'Vintages (millésimes) available on the territory' },
    { name: 'area_ha', sql: 't.area_m2 / 1e4', comment: 'Surface of the territory (ha, planar EPSG:2154)' },
    { name: 'parent_level', sql: 'p.parent_level', comment: 'Level of the parent territory (portrait_parent)' },
    { name: 'parent_code', sql: 'p.parent_code', comment: 'Code of the parent territory' },
    { name: 'parent_name', sql: 'pt.name', comment: 'Name of the parent territory' },
  ];
  for (let r = 1; r <= shape.ranks; r++) {
    const f = `FILTER (WHERE s.vintage_rank = ${r})`;
    cols.push(
      { name: `vintage_r${r}`, sql: `max(s.vintage) ${f}`, comment: `Year of vintage rank ${r} (latest year combined when départements differ)` },
      { name: `artificialised_ha_r${r}`, sql: `max(s.artificialised_m2) ${f} / 1e4`, comment: `Artificialised stock at vintage rank ${r} (ha)` },
      { name: `artificialised_share_r${r}`, sql: `max(s.artificialised_share) ${f}`, comment: `Artificialised share of the covered surface at vintage rank ${r} (0..1)` },
      { name: `sealed_ha_r${r}`, sql: `max(s.sealed_m2) ${f} / 1e4`, comment: `Sealed (imperméabilisé, categories 1–2) stock at vintage rank ${r} (ha)` },
    );
  }
  for (const period of shape.periods) {
    const k = periodKey(period);
    const f = `FILTER (WHERE a.from_rank = ${period[0]} AND a.to_rank = ${period[1]})`;
    const label = `vintage rank ${period[0]} → ${period[1]}`;
    cols.push(
      { name: `artificialisation_ha_${k}`, sql: `max(a.artificialisation_m2) ${f} / 1e4`, comment: `Artificialisation, ${label} (ha)` },
      { name: `desartificialisation_ha_${k}`, sql: `max(a.desartificialisation_m2) ${f} / 1e4`, comment: `Désartificialisation, ${label} (ha)` },
      { name: `net_ha_${k}`, sql: `max(a.net_m2) ${f} / 1e4`, comment: `Net artificialisation, ${label} (ha)` },
      { name: `artificialisation_ha_per_year_${k}`, sql: `max(a.artificialisation_m2_per_year) ${f} / 1e4`, comment: `Artificialisation per year, ${label} (ha/yr)` },
      { name: `desartificialisation_ha_per_year_${k}`, sql: `max(a.desartificialisation_m2_per_year) ${f} / 1e4`, comment: `Désartificialisation per year, ${label} (ha/yr)` },
      { name: `net_ha_per_year_${k}`, sql: `max(a.net_m2_per_year) ${f} / 1e4`, comment: `Net artificialisation per year, ${label} (ha/yr)` },
      { name: `net_share_${k}`, sql: `max(a.net_share_of_area) ${f}`, comment: `Net artificialisation as a share of the surface, ${label} (0..1)` },
    );
  }
  for (const column of SUMMARY_COLUMNS) {
    if ('each_destination' in column) {
      for (const d of DESTINATIONS) {
        cols.push({ name: `enaf_${d}_ha`, sql: `any_value(ed.${d}_m2) / 1e4`, comment: `ENAF consumption towards destination ${d} over the ENAF period (ha)` });
      }
    } else {
      const sql = column.sql ?? (column.hectares ? `any_value(${column.column}) / 1e4` : `any_value(${column.column})`);
      cols.push({ name: column.name, sql, comment: column.comment });
    }
  }
  return cols;
}

/** Columns added after the aggregation: ranks among siblings and the parent's value. */
const COMPARISON_COLUMNS: ColumnDoc[] = [
  { name: 'sibling_count', comment: 'Number of territories of the same level sharing the parent (itself included)' },
  { name: 'sibling_rank', comment: 'Rank among siblings by net_share_per_year_full, 1 = highest annual net artificialisation share' },
  { name: 'parent_net_share_full', comment: "Parent territory's net_share_full, for comparison" },
  { name: 'parent_net_ha_full', comment: "Parent territory's net_ha_full (ha)" },
];

export function portraitTerritoryColumns(shape: PortraitShape): ColumnDoc[] {
  return [...portraitColumns(shape).map(({ name, comment }) => ({ name, comment })), ...COMPARISON_COLUMNS];
}

/** All statements creating `portrait_parent` and `portrait_territory` with their comments. */
export function portraitTablesSql(shape: PortraitShape): string {
  const cols = portraitColumns(shape);
  const longest = (table: string, span: string): string =>
    `SELECT * FROM ${table} QUALIFY row_number() OVER (PARTITION BY level, code ORDER BY ${span} DESC, from_vintage) = 1`;
  const destinations = DESTINATIONS.map((d) => `sum(c.area_m2) FILTER (WHERE c.destination = ${sqlString(d)}) AS ${d}_m2`).join(', ');
  const comments = portraitTerritoryColumns(shape)
    .map((c) => `COMMENT ON COLUMN portrait_territory.${c.name} IS ${sqlString(c.comment)};`)
    .join('\n');
  return `${parentSql()}
CREATE OR REPLACE TABLE portrait_territory AS
WITH full_flux AS (${longest('artif_flux', 'to_rank - from_rank')}),
imperm_full AS (${longest('imperm_flux', 'to_vintage - from_vintage')}),
enaf_full AS (${longest('enaf_summary', 'to_vintage - from_vintage')}),
enaf_dest AS (
  SELECT c.level, c.code, ${destinations}
  FROM enaf_consumption c JOIN enaf_full f USING (level, code, from_vintage, to_vintage)
  GROUP BY c.level, c.code
),
base AS (
  SELECT ${cols.map((c) => `${c.sql} AS ${c.name}`).join(',\n    ')}
  FROM territory t
  LEFT JOIN portrait_parent p USING (level, code)
  LEFT JOIN territory pt ON pt.level = p.parent_level AND pt.code = p.parent_code
  LEFT JOIN stock_summary s ON s.level = t.level AND s.code = t.code
  LEFT JOIN artif_flux a ON a.level = t.level AND a.code = t.code
  LEFT JOIN imperm_full i ON i.level = t.level AND i.code = t.code
  LEFT JOIN enaf_full e ON e.level = t.level AND e.code = t.code
  LEFT JOIN enaf_dest ed ON ed.level = t.level AND ed.code = t.code
  LEFT JOIN trajectory tr ON tr.level = t.level AND tr.code = t.code
  LEFT JOIN full_flux ff ON ff.level = t.level AND ff.code = t.code
  GROUP BY t.level, t.code, t.name, t.coverage_status, t.vintages, t.area_m2, p.parent_level, p.parent_code, pt.name
)
SELECT b.*,
  count(*) OVER siblings AS sibling_count,
  rank() OVER (siblings ORDER BY b.net_share_per_year_full DESC NULLS LAST) AS sibling_rank,
  par.net_share_full AS parent_net_share_full,
  par.net_ha_full AS parent_net_ha_full
FROM base b
LEFT JOIN base par ON par.level = b.parent_level AND par.code = b.parent_code
WINDOW siblings AS (PARTITION BY b.level, b.parent_level, b.parent_code)
ORDER BY b.level, b.code;
COMMENT ON TABLE portrait_territory IS 'One row per territory: the headline figures of its portrait (hectares; rank columns r1..rN are vintage ranks; periods rA_rB; ENAF measured from OCS, not the official Cerema figure)';
${comments}
`;
}
