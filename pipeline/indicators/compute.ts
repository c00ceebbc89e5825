import type { DuckDBConnection } from '@duckdb/node-api';

/**
 * Indicators stage: ZAN artificialisation, imperméabilisation, ENAF consumption, transitions and the
 * 2021–2031 trajectory, computed in DuckDB SQL over the atomic pieces of the output database.
 *
 * Reads `piece`, `piece_class`, `membership`, `territory` (already in the database) and writes the
 * indicator tables of docs/OUTPUT_SCHEMA.md, their COMMENTs and the `v_*_ha` views.
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

/** Indicator tables in creation order, with their sort keys (also used by exports). */
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
} as const;

const sqlString = (value: string): string => `'${value.replace(/'/g, "''")}'`;

/** Columns shared by the period tables, with their comments. */
const PERIOD_COLUMNS: Record<string, string> = {
  level: 'Territory level: commune, epci, scot, departement or region',
  code: 'Territory code (INSEE commune or département code, SIREN of the EPCI, SCoT code, région code)',
  from_vintage: 'Start year of the period (earliest year combined when communes have different vintages)',
  to_vintage: 'End year of the period (latest year combined when communes have different vintages)',
  from_rank: 'Rank of the start vintage among each commune’s vintages (1 = first)',
  to_rank: 'Rank of the end vintage (for first → last: the last rank of the territory)',
};

const YEARS_COLUMN = 'Period length in years, mean of the communes’ period lengths weighted by commune area';

/** COMMENT text for every indicator table and column. */
export const INDICATOR_COMMENTS: Record<string, { table: string; columns: Record<string, string> }> = {
  stock: {
    table: 'Area by décret 2023-1096 category per territory and vintage (m²)',
    columns: {
      level: PERIOD_COLUMNS.level!,
      code: PERIOD_COLUMNS.code!,
      vintage: 'Vintage year (latest year combined at this rank when communes have different vintages)',
      vintage_rank: 'Rank of the vintage among each commune’s vintages (1 = first)',
      category: 'Décret 2023-1096 category 1..10 (0 = unclassified)',
      area_m2: 'Area of the category in m² (planar, EPSG:2154)',
    },
  },
  stock_summary: {
    table: 'Covered, artificialised and sealed area per territory and vintage (m²)',
    columns: {
      level: PERIOD_COLUMNS.level!,
      code: PERIOD_COLUMNS.code!,
      vintage: 'Vintage year (latest year combined at this rank when communes have different vintages)',
      vintage_rank: 'Rank of the vintage among each commune’s vintages (1 = first)',
      covered_m2: 'Area with land-use data at this vintage (m²)',
      uncovered_m2: 'Territory area without land-use data at this vintage (m², never negative)',
      artificialised_m2: 'Artificialised area (décret 2023-1096 categories 1–5, or the official artif flag) in m²',
      artificialised_share: 'Artificialised area / territory area',
      sealed_m2: 'Sealed (imperméabilisé) area: categories 1 and 2, in m²',
      years_combined: 'Vintage years combined, with their départements: 2018 (67); 2019 (68)',
    },
  },
  artif_flux: {
    table: 'Artificialisation, désartificialisation and net artificialisation per territory and period (m²)',
    columns: {
      ...PERIOD_COLUMNS,
      artificialisation_m2: 'Area not artificialised at the start and artificialised at the end (m²)',
      desartificialisation_m2: 'Area artificialised at the start and not at the end (m²)',
      net_m2: 'artificialisation_m2 − desartificialisation_m2',
      years: YEARS_COLUMN,
      artificialisation_m2_per_year: 'Sum over communes of the commune’s artificialisation / its period length',
      desartificialisation_m2_per_year: 'Sum over communes of the commune’s désartificialisation / its period length',
      net_m2_per_year: 'Sum over communes of the commune’s net artificialisation / its period length',
      net_share_of_area: 'net_m2 / territory area',
      years_combined: 'Vintage pairs combined, with their départements: 2018→2021 (67); 2019→2022 (68)',
    },
  },
  artif_flux_detail: {
    table: 'Artificialisation and désartificialisation by couverture and usage before and after (m²)',
    columns: {
      ...PERIOD_COLUMNS,
      direction: 'artificialisation or desartificialisation',
      from_cs: 'Couverture code (CS) at the start',
      to_cs: 'Couverture code (CS) at the end',
      from_us: 'Usage code (US) at the start',
      to_us: 'Usage code (US) at the end',
      area_m2: 'Area that changed in m²',
    },
  },
  imperm_flux: {
    table: 'Imperméabilisation (categories 1 and 2) gained and lost per territory and period (m²)',
    columns: {
      ...PERIOD_COLUMNS,
      impermeabilisation_m2: 'Area not sealed at the start and sealed at the end (m²)',
      desimpermeabilisation_m2: 'Area sealed at the start and not at the end (m²)',
      net_m2: 'impermeabilisation_m2 − desimpermeabilisation_m2',
      years: YEARS_COLUMN,
      net_m2_per_year: 'Sum over communes of the commune’s net imperméabilisation / its period length',
    },
  },
  enaf_consumption: {
    table: 'ENAF consumption (NAF at the start, urbanised at the end) by destination at the end (m²), measured from OCS',
    columns: {
      ...PERIOD_COLUMNS,
      destination: 'Destination at the end: habitat, activite, mixte, route, ferre, autre_infrastructure, inconnu',
      area_m2: 'Area consumed in m²',
      area_m2_per_year: 'Sum over communes of the commune’s consumption / its period length',
      years: YEARS_COLUMN,
    },
  },
  enaf_summary: {
    table: 'ENAF consumption and renaturation per territory and period (m²), measured from OCS',
    columns: {
      ...PERIOD_COLUMNS,
      consumption_m2: 'Area NAF at the start and urbanised at the end (m²)',
      renaturation_m2: 'Area urbanised at the start and NAF at the end (m²)',
      consumption_m2_per_year: 'Sum over communes of the commune’s consumption / its period length',
      renaturation_m2_per_year: 'Sum over communes of the commune’s renaturation / its period length',
      consumption_share_of_area: 'consumption_m2 / territory area',
      years: YEARS_COLUMN,
    },
  },
  transition: {
    table: 'Area moving from one décret 2023-1096 category to another per territory and period (m², unchanged included)',
    columns: {
      ...PERIOD_COLUMNS,
      from_category: 'Category 0..10 at the start',
      to_category: 'Category 0..10 at the end',
      area_m2: 'Area in m²',
    },
  },
  trajectory: {
    table: 'ZAN 2021–2031 trajectory: reference ENAF consumption, −50 % ceiling with the 1 ha commune floor, projection',
    columns: {
      level: PERIOD_COLUMNS.level!,
      code: PERIOD_COLUMNS.code!,
      reference_period: 'Consecutive vintage period(s) used for the reference rate: the one overlapping 2011–2021 the most, per commune',
      reference_rate_m2_per_year: 'ENAF consumption per year over the reference period (sum of commune rates)',
      reference_2011_2020_m2: 'Reference decade consumption: commune rate × 10 years, summed',
      ceiling_2021_2031_m2: 'Sum of commune ceilings max(reference × 50 %, 1 ha)',
      floor_applied_communes: 'Communes whose ceiling is the 1 ha floor',
      observed_period: 'Consecutive vintage period(s) ending last, used for the projection',
      projection_2021_2031_m2: 'Latest observed consumption rate × 10 years, summed over communes',
      on_track: 'projection_2021_2031_m2 <= ceiling_2021_2031_m2',
      measure: 'How this was measured: from OCS, not the official Cerema land-tax figure',
      communes: 'Communes included (those with a period overlapping the reference decade)',
      communes_excluded: 'Communes of the territory left out: no consecutive vintage period overlaps the reference decade',
    },
  },
};

/** COMMENT text for the views (tables and columns). */
const VIEW_COMMENTS: Record<string, string> = {
  v_stock_ha: 'Stock by category in hectares, with category label and share of the territory area',
  v_artif_flux_ha: 'Artificialisation flux in hectares and hectares per year',
  v_enaf_ha: 'ENAF consumption and renaturation in hectares and hectares per year',
  v_trajectory_ha: 'ZAN 2021–2031 trajectory in hectares',
  v_territory_summary: 'One row per territory with headline figures in hectares (last vintage, first → last period, trajectory)',
};

/**
 * Computes every indicator table, its comments and the hectare views. Idempotent: drops and recreates them.
 */
export async function runIndicatorSql(connection: DuckDBConnection, options: IndicatorOptions = {}): Promise<void> {
  const [refStart, refEnd] = options.referencePeriod ?? [2011, 2021];
  const [targetStart, targetEnd] = options.targetPeriod ?? [2021, 2031];
  const reduction = options.reduction ?? 0.5;
  const floor = options.communeFloorM2 ?? 10_000;
  const partial = options.partialThreshold ?? 0.005;
  const refYears = refEnd - refStart;
  const targetYears = targetEnd - targetStart;

  for (const sql of [
    // Areas are summed in whole µm² (HUGEINT): exact, so the result does not depend on the order threads add rows in.
    `CREATE OR REPLACE TEMP MACRO xsum(x) AS (sum(round((x) * 1e6)::HUGEINT)::DOUBLE / 1e6)`,
    // Per commune: its vintages, ranked (départements can have different years).
    `CREATE OR REPLACE TEMP TABLE _cv AS
     SELECT commune_code, vintage,
            dense_rank() OVER (PARTITION BY commune_code ORDER BY vintage)::INTEGER AS rank,
            count(*) OVER (PARTITION BY commune_code)::INTEGER AS n
     FROM (SELECT DISTINCT p.commune_code, c.vintage FROM piece_class c JOIN piece p USING (piece_id))`,
    `CREATE OR REPLACE TEMP TABLE _commune AS
     SELECT t.code AS commune_code, t.area_m2,
            coalesce((SELECT min(m.code) FROM membership m WHERE m.commune_code = t.code AND m.level = 'departement'), '?') AS departement
     FROM territory t WHERE t.level = 'commune'`,
    // Per commune: consecutive periods, plus first → last when it differs from the only consecutive one.
    `CREATE OR REPLACE TEMP TABLE _cp AS
     SELECT a.commune_code, 'consecutive' AS kind, a.vintage AS from_vintage, b.vintage AS to_vintage, a.rank AS from_rank, b.rank AS to_rank
     FROM _cv a JOIN _cv b ON a.commune_code = b.commune_code AND b.rank = a.rank + 1
     UNION ALL
     SELECT a.commune_code, 'first_last', a.vintage, b.vintage, 1, b.rank
     FROM _cv a JOIN _cv b ON a.commune_code = b.commune_code AND a.rank = 1 AND b.rank = b.n AND b.n >= 2`,
    // Last rank of each territory; its first → last period gathers every commune's first → last.
    `CREATE OR REPLACE TEMP TABLE _tl AS
     SELECT m.level, m.code, max(v.n)::INTEGER AS last_rank
     FROM membership m JOIN (SELECT DISTINCT commune_code, n FROM _cv) v USING (commune_code) GROUP BY ALL`,
    // Territory period key of each commune period. With last rank 2 the first → last period is the consecutive one.
    `CREATE OR REPLACE TEMP TABLE _tpc AS
     SELECT m.level, m.code,
            CASE WHEN p.kind = 'consecutive' THEN p.from_rank ELSE 1 END AS t_from_rank,
            CASE WHEN p.kind = 'consecutive' THEN p.to_rank ELSE l.last_rank END AS t_to_rank,
            p.commune_code, p.from_vintage, p.to_vintage, (p.to_vintage - p.from_vintage)::DOUBLE AS years
     FROM _cp p JOIN membership m USING (commune_code) JOIN _tl l ON l.level = m.level AND l.code = m.code
     WHERE p.kind = 'consecutive' OR l.last_rank > 2`,
    `CREATE OR REPLACE TEMP TABLE _tp AS
     WITH pairs AS (
       SELECT t.level, t.code, t.t_from_rank, t.t_to_rank, t.from_vintage, t.to_vintage,
              string_agg(DISTINCT c.departement, ', ' ORDER BY c.departement) AS deps,
              xsum(t.years * c.area_m2) AS weighted, xsum(c.area_m2) AS area
       FROM _tpc t JOIN _commune c USING (commune_code) GROUP BY ALL)
     SELECT level, code, t_from_rank, t_to_rank, min(from_vintage) AS from_vintage, max(to_vintage) AS to_vintage,
            xsum(weighted) / nullif(xsum(area), 0) AS years,
            string_agg(format('{}→{} ({})', from_vintage, to_vintage, deps), '; ' ORDER BY from_vintage, to_vintage) AS years_combined
     FROM pairs GROUP BY ALL`,
    // Every piece's classes at both ends of each commune period, aggregated to distinct class pairs.
    `CREATE OR REPLACE TEMP TABLE _chg AS
     SELECT pc.commune_code, p.from_vintage, p.to_vintage,
            a.category AS from_category, b.category AS to_category,
            a.artificialised AS from_artif, b.artificialised AS to_artif,
            a.sealed AS from_sealed, b.sealed AS to_sealed, a.enaf AS from_enaf, b.enaf AS to_enaf,
            coalesce(b.destination, 'inconnu') AS to_destination,
            a.code_cs AS from_cs, b.code_cs AS to_cs, a.code_us AS from_us, b.code_us AS to_us,
            xsum(pc.area_m2) AS area_m2
     FROM (SELECT DISTINCT commune_code, from_vintage, to_vintage FROM _cp) p
     JOIN piece pc ON pc.commune_code = p.commune_code
     JOIN piece_class a ON a.piece_id = pc.piece_id AND a.vintage = p.from_vintage
     JOIN piece_class b ON b.piece_id = pc.piece_id AND b.vintage = p.to_vintage
     GROUP BY ALL`,
    // Commune totals per period (zero when nothing changed).
    `CREATE OR REPLACE TEMP TABLE _cm AS
     SELECT p.commune_code, p.from_vintage, p.to_vintage,
            xsum(CASE WHEN c.to_artif AND NOT c.from_artif THEN c.area_m2 ELSE 0 END) AS artif,
            xsum(CASE WHEN c.from_artif AND NOT c.to_artif THEN c.area_m2 ELSE 0 END) AS desartif,
            xsum(CASE WHEN c.to_sealed AND NOT c.from_sealed THEN c.area_m2 ELSE 0 END) AS imperm,
            xsum(CASE WHEN c.from_sealed AND NOT c.to_sealed THEN c.area_m2 ELSE 0 END) AS desimperm,
            xsum(CASE WHEN c.from_enaf = 'naf' AND c.to_enaf = 'urban' THEN c.area_m2 ELSE 0 END) AS consumption,
            xsum(CASE WHEN c.from_enaf = 'urban' AND c.to_enaf = 'naf' THEN c.area_m2 ELSE 0 END) AS renaturation
     FROM (SELECT DISTINCT commune_code, from_vintage, to_vintage FROM _cp) p
     LEFT JOIN _chg c USING (commune_code, from_vintage, to_vintage) GROUP BY ALL`,
    // Commune stock per vintage.
    `CREATE OR REPLACE TEMP TABLE _cs AS
     SELECT p.commune_code, c.vintage, v.rank, c.category, bool_or(c.artificialised) AS artificialised,
            bool_or(c.sealed) AS sealed, xsum(p.area_m2) AS area_m2
     FROM piece_class c JOIN piece p USING (piece_id) JOIN _cv v ON v.commune_code = p.commune_code AND v.vintage = c.vintage
     GROUP BY p.commune_code, c.vintage, v.rank, c.category, c.artificialised, c.sealed`,
    `CREATE OR REPLACE TEMP TABLE _trank AS
     WITH y AS (
       SELECT m.level, m.code, v.rank, v.vintage, string_agg(DISTINCT c.departement, ', ' ORDER BY c.departement) AS deps
       FROM _cv v JOIN membership m USING (commune_code) JOIN _commune c USING (commune_code) GROUP BY ALL)
     SELECT level, code, rank, max(vintage) AS vintage,
            string_agg(format('{} ({})', vintage, deps), '; ' ORDER BY vintage) AS years_combined
     FROM y GROUP BY ALL`,

    `CREATE OR REPLACE TABLE stock AS
     SELECT m.level, m.code, r.vintage, s.rank AS vintage_rank, s.category, xsum(s.area_m2) AS area_m2
     FROM _cs s JOIN membership m USING (commune_code) JOIN _trank r ON r.level = m.level AND r.code = m.code AND r.rank = s.rank
     GROUP BY ALL ORDER BY m.level, m.code, s.rank, s.category`,
    `CREATE OR REPLACE TABLE stock_summary AS
     WITH s AS (
       SELECT m.level, m.code, s.rank, xsum(s.area_m2) AS covered_m2,
              xsum(CASE WHEN s.artificialised THEN s.area_m2 ELSE 0 END) AS artificialised_m2,
              xsum(CASE WHEN s.sealed THEN s.area_m2 ELSE 0 END) AS sealed_m2
       FROM _cs s JOIN membership m USING (commune_code) GROUP BY ALL)
     SELECT r.level, r.code, r.vintage, r.rank AS vintage_rank, coalesce(s.covered_m2, 0) AS covered_m2,
            greatest(t.area_m2 - coalesce(s.covered_m2, 0), 0) AS uncovered_m2,
            coalesce(s.artificialised_m2, 0) AS artificialised_m2,
            coalesce(s.artificialised_m2, 0) / nullif(t.area_m2, 0) AS artificialised_share,
            coalesce(s.sealed_m2, 0) AS sealed_m2, r.years_combined
     FROM _trank r JOIN territory t ON t.level = r.level AND t.code = r.code
     LEFT JOIN s ON s.level = r.level AND s.code = r.code AND s.rank = r.rank
     ORDER BY r.level, r.code, r.rank`,
    `CREATE OR REPLACE TABLE artif_flux AS
     SELECT tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank AS from_rank, tp.t_to_rank AS to_rank,
            xsum(cm.artif) AS artificialisation_m2, xsum(cm.desartif) AS desartificialisation_m2,
            xsum(cm.artif - cm.desartif) AS net_m2, tp.years,
            xsum(cm.artif / t.years) AS artificialisation_m2_per_year,
            xsum(cm.desartif / t.years) AS desartificialisation_m2_per_year,
            xsum((cm.artif - cm.desartif) / t.years) AS net_m2_per_year,
            xsum(cm.artif - cm.desartif) / nullif(any_value(ter.area_m2), 0) AS net_share_of_area,
            tp.years_combined
     FROM _tpc t JOIN _cm cm USING (commune_code, from_vintage, to_vintage)
     JOIN _tp tp ON tp.level = t.level AND tp.code = t.code AND tp.t_from_rank = t.t_from_rank AND tp.t_to_rank = t.t_to_rank
     JOIN territory ter ON ter.level = t.level AND ter.code = t.code
     GROUP BY tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank, tp.t_to_rank, tp.years, tp.years_combined
     ORDER BY tp.level, tp.code, tp.t_from_rank, tp.t_to_rank`,
    `CREATE OR REPLACE TABLE artif_flux_detail AS
     SELECT tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank AS from_rank, tp.t_to_rank AS to_rank,
            CASE WHEN c.to_artif THEN 'artificialisation' ELSE 'desartificialisation' END AS direction,
            c.from_cs, c.to_cs, c.from_us, c.to_us, xsum(c.area_m2) AS area_m2
     FROM _tpc t JOIN _chg c USING (commune_code, from_vintage, to_vintage)
     JOIN _tp tp ON tp.level = t.level AND tp.code = t.code AND tp.t_from_rank = t.t_from_rank AND tp.t_to_rank = t.t_to_rank
     WHERE c.from_artif <> c.to_artif
     GROUP BY ALL ORDER BY ALL`,
    `CREATE OR REPLACE TABLE imperm_flux AS
     SELECT tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank AS from_rank, tp.t_to_rank AS to_rank,
            xsum(cm.imperm) AS impermeabilisation_m2, xsum(cm.desimperm) AS desimpermeabilisation_m2,
            xsum(cm.imperm - cm.desimperm) AS net_m2, tp.years,
            xsum((cm.imperm - cm.desimperm) / t.years) AS net_m2_per_year
     FROM _tpc t JOIN _cm cm USING (commune_code, from_vintage, to_vintage)
     JOIN _tp tp ON tp.level = t.level AND tp.code = t.code AND tp.t_from_rank = t.t_from_rank AND tp.t_to_rank = t.t_to_rank
     GROUP BY tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank, tp.t_to_rank, tp.years
     ORDER BY tp.level, tp.code, tp.t_from_rank, tp.t_to_rank`,
    `CREATE OR REPLACE TABLE enaf_consumption AS
     SELECT tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank AS from_rank, tp.t_to_rank AS to_rank,
            c.to_destination AS destination, xsum(c.area_m2) AS area_m2, xsum(c.area_m2 / t.years) AS area_m2_per_year, tp.years
     FROM _tpc t JOIN _chg c USING (commune_code, from_vintage, to_vintage)
     JOIN _tp tp ON tp.level = t.level AND tp.code = t.code AND tp.t_from_rank = t.t_from_rank AND tp.t_to_rank = t.t_to_rank
     WHERE c.from_enaf = 'naf' AND c.to_enaf = 'urban'
     GROUP BY tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank, tp.t_to_rank, c.to_destination, tp.years
     ORDER BY tp.level, tp.code, tp.t_from_rank, tp.t_to_rank, c.to_destination`,
    `CREATE OR REPLACE TABLE enaf_summary AS
     SELECT tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank AS from_rank, tp.t_to_rank AS to_rank,
            xsum(cm.consumption) AS consumption_m2, xsum(cm.renaturation) AS renaturation_m2,
            xsum(cm.consumption / t.years) AS consumption_m2_per_year,
            xsum(cm.renaturation / t.years) AS renaturation_m2_per_year,
            xsum(cm.consumption) / nullif(any_value(ter.area_m2), 0) AS consumption_share_of_area, tp.years
     FROM _tpc t JOIN _cm cm USING (commune_code, from_vintage, to_vintage)
     JOIN _tp tp ON tp.level = t.level AND tp.code = t.code AND tp.t_from_rank = t.t_from_rank AND tp.t_to_rank = t.t_to_rank
     JOIN territory ter ON ter.level = t.level AND ter.code = t.code
     GROUP BY tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank, tp.t_to_rank, tp.years
     ORDER BY tp.level, tp.code, tp.t_from_rank, tp.t_to_rank`,
    `CREATE OR REPLACE TABLE transition AS
     SELECT tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank AS from_rank, tp.t_to_rank AS to_rank,
            c.from_category, c.to_category, xsum(c.area_m2) AS area_m2
     FROM _tpc t JOIN _chg c USING (commune_code, from_vintage, to_vintage)
     JOIN _tp tp ON tp.level = t.level AND tp.code = t.code AND tp.t_from_rank = t.t_from_rank AND tp.t_to_rank = t.t_to_rank
     GROUP BY ALL ORDER BY ALL`,
    // Trajectory per commune: reference = the consecutive period overlapping the reference decade the most
    // (ties: the earlier one); projection = the consecutive period ending last.
    `CREATE OR REPLACE TEMP TABLE _ctraj AS
     WITH p AS (
       SELECT cp.commune_code, cp.from_vintage, cp.to_vintage, cm.consumption / (cp.to_vintage - cp.from_vintage) AS rate,
              greatest(0, least(cp.to_vintage, ${refEnd}) - greatest(cp.from_vintage, ${refStart})) AS overlap
       FROM _cp cp JOIN _cm cm USING (commune_code, from_vintage, to_vintage) WHERE cp.kind = 'consecutive'),
     ref AS (
       SELECT * FROM p WHERE overlap > 0
       QUALIFY row_number() OVER (PARTITION BY commune_code ORDER BY overlap DESC, from_vintage) = 1),
     obs AS (
       SELECT * FROM p QUALIFY row_number() OVER (PARTITION BY commune_code ORDER BY to_vintage DESC, from_vintage DESC) = 1)
     SELECT ref.commune_code, ref.from_vintage AS ref_from, ref.to_vintage AS ref_to, ref.rate AS ref_rate,
            ref.rate * ${refYears} AS reference,
            greatest(ref.rate * ${refYears} * ${1 - reduction}, ${floor}) AS ceiling,
            ref.rate * ${refYears} * ${1 - reduction} < ${floor} AS floor_applied,
            obs.from_vintage AS obs_from, obs.to_vintage AS obs_to, obs.rate * ${targetYears} AS projection
     FROM ref JOIN obs USING (commune_code)`,
    `CREATE OR REPLACE TABLE trajectory AS
     WITH j AS (
       SELECT m.level, m.code, c.departement, ct.*
       FROM membership m JOIN _commune c USING (commune_code) JOIN _ctraj ct USING (commune_code)),
     refp AS (
       SELECT level, code, ref_from, ref_to, string_agg(DISTINCT departement, ', ' ORDER BY departement) AS deps FROM j GROUP BY ALL),
     obsp AS (
       SELECT level, code, obs_from, obs_to, string_agg(DISTINCT departement, ', ' ORDER BY departement) AS deps FROM j GROUP BY ALL),
     agg AS (
       SELECT level, code, xsum(ref_rate) AS reference_rate_m2_per_year, xsum(reference) AS reference_2011_2020_m2,
              xsum(ceiling) AS ceiling_2021_2031_m2, count(*) FILTER (WHERE floor_applied)::INTEGER AS floor_applied_communes,
              xsum(projection) AS projection_2021_2031_m2, count(*)::INTEGER AS communes
       FROM j GROUP BY ALL),
     members AS (
       SELECT m.level, m.code, count(*)::INTEGER AS total FROM membership m
       WHERE m.commune_code IN (SELECT commune_code FROM _cv) GROUP BY ALL)
     SELECT a.level, a.code,
            (SELECT string_agg(format('{}→{} ({})', ref_from, ref_to, deps), '; ' ORDER BY ref_from, ref_to) FROM refp r
             WHERE r.level = a.level AND r.code = a.code) AS reference_period,
            a.reference_rate_m2_per_year, a.reference_2011_2020_m2, a.ceiling_2021_2031_m2, a.floor_applied_communes,
            (SELECT string_agg(format('{}→{} ({})', obs_from, obs_to, deps), '; ' ORDER BY obs_from, obs_to) FROM obsp o
             WHERE o.level = a.level AND o.code = a.code) AS observed_period,
            a.projection_2021_2031_m2, a.projection_2021_2031_m2 <= a.ceiling_2021_2031_m2 AS on_track,
            ${sqlString(OCS_MEASURE)} AS measure, a.communes, (mb.total - a.communes)::INTEGER AS communes_excluded
     FROM agg a JOIN members mb USING (level, code)
     ORDER BY a.level, a.code`,
    // Coverage of each territory, from the commune vintages and the uncovered area per rank.
    `CREATE OR REPLACE TEMP TABLE _coverage AS
     WITH cy AS (
       SELECT c.commune_code, c.departement, string_agg(v.vintage::VARCHAR, ', ' ORDER BY v.vintage) AS years
       FROM _commune c LEFT JOIN _cv v USING (commune_code) GROUP BY ALL),
     per AS (
       SELECT m.level, m.code, count(*) AS communes, count(cy.years) AS with_data, count(DISTINCT cy.years) AS year_sets
       FROM membership m JOIN cy USING (commune_code) GROUP BY ALL),
     txt AS (
       SELECT level, code, years, string_agg(DISTINCT departement, ', ' ORDER BY departement) AS deps
       FROM membership m JOIN cy USING (commune_code) WHERE years IS NOT NULL GROUP BY ALL),
     unc AS (
       SELECT level, code, max(uncovered_m2) AS uncovered_m2 FROM stock_summary GROUP BY ALL)
     SELECT per.level, per.code,
            CASE WHEN per.with_data = 0 THEN 'no_data'
                 WHEN per.with_data < per.communes OR coalesce(unc.uncovered_m2, 0) > ${partial} * t.area_m2 THEN 'partial'
                 WHEN per.year_sets > 1 THEN 'complete_mixed'
                 ELSE 'complete_uniform' END AS coverage_status,
            CASE WHEN per.year_sets <= 1 THEN (SELECT min(years) FROM txt WHERE txt.level = per.level AND txt.code = per.code)
                 ELSE (SELECT string_agg(format('{} ({})', years, deps), '; ' ORDER BY years) FROM txt
                       WHERE txt.level = per.level AND txt.code = per.code) END AS vintages
     FROM per JOIN territory t USING (level, code) LEFT JOIN unc USING (level, code)`,
    `UPDATE territory SET coverage_status = c.coverage_status, vintages = coalesce(c.vintages, '')
     FROM _coverage c WHERE c.level = territory.level AND c.code = territory.code`,
  ]) {
    await connection.run(sql);
  }
  await createViews(connection);
  await applyComments(connection, INDICATOR_COMMENTS);
  for (const name of ['_cv', '_commune', '_cp', '_tl', '_tpc', '_tp', '_chg', '_cm', '_cs', '_trank', '_ctraj', '_coverage']) {
    await connection.run(`DROP TABLE ${name}`);
  }
  await connection.run('DROP MACRO xsum');
}

async function createViews(connection: DuckDBConnection): Promise<void> {
  const views: Record<string, string> = {
    v_stock_ha: `SELECT s.level, s.code, t.name, s.vintage, s.vintage_rank, s.category, n.label,
                        s.area_m2 / 1e4 AS area_ha, s.area_m2 / nullif(t.area_m2, 0) AS share_of_area
                 FROM stock s JOIN territory t USING (level, code) LEFT JOIN nomenclature_category n USING (category)`,
    v_artif_flux_ha: `SELECT f.level, f.code, t.name, f.from_vintage, f.to_vintage, f.from_rank, f.to_rank,
                             f.artificialisation_m2 / 1e4 AS artificialisation_ha, f.desartificialisation_m2 / 1e4 AS desartificialisation_ha,
                             f.net_m2 / 1e4 AS net_ha, f.years, f.artificialisation_m2_per_year / 1e4 AS artificialisation_ha_per_year,
                             f.desartificialisation_m2_per_year / 1e4 AS desartificialisation_ha_per_year,
                             f.net_m2_per_year / 1e4 AS net_ha_per_year, f.net_share_of_area, f.years_combined
                      FROM artif_flux f JOIN territory t USING (level, code)`,
    v_enaf_ha: `SELECT e.level, e.code, t.name, e.from_vintage, e.to_vintage, e.from_rank, e.to_rank,
                       e.consumption_m2 / 1e4 AS consumption_ha, e.renaturation_m2 / 1e4 AS renaturation_ha,
                       e.consumption_m2_per_year / 1e4 AS consumption_ha_per_year, e.consumption_share_of_area, e.years
                FROM enaf_summary e JOIN territory t USING (level, code)`,
    v_trajectory_ha: `SELECT j.level, j.code, t.name, j.reference_period, j.reference_rate_m2_per_year / 1e4 AS reference_ha_per_year,
                             j.reference_2011_2020_m2 / 1e4 AS reference_2011_2020_ha, j.ceiling_2021_2031_m2 / 1e4 AS ceiling_2021_2031_ha,
                             j.floor_applied_communes, j.observed_period, j.projection_2021_2031_m2 / 1e4 AS projection_2021_2031_ha,
                             j.on_track, j.measure
                      FROM trajectory j JOIN territory t USING (level, code)`,
    v_territory_summary: `
      WITH last AS (
        SELECT * FROM stock_summary QUALIFY row_number() OVER (PARTITION BY level, code ORDER BY vintage_rank DESC) = 1),
      fl AS (
        SELECT * FROM artif_flux WHERE from_rank = 1 QUALIFY row_number() OVER (PARTITION BY level, code ORDER BY to_rank DESC) = 1),
      en AS (
        SELECT * FROM enaf_summary WHERE from_rank = 1 QUALIFY row_number() OVER (PARTITION BY level, code ORDER BY to_rank DESC) = 1)
      SELECT t.level, t.code, t.name, t.area_m2 / 1e4 AS area_ha, t.coverage_status, t.vintages,
             last.vintage AS last_vintage, last.artificialised_m2 / 1e4 AS artificialised_ha_last, last.artificialised_share AS artificialised_share_last,
             fl.from_vintage, fl.to_vintage, fl.net_m2 / 1e4 AS net_artificialisation_ha, fl.net_m2_per_year / 1e4 AS net_artificialisation_ha_per_year,
             en.consumption_m2 / 1e4 AS enaf_consumption_ha, en.consumption_m2_per_year / 1e4 AS enaf_consumption_ha_per_year,
             j.ceiling_2021_2031_m2 / 1e4 AS ceiling_2021_2031_ha, j.projection_2021_2031_m2 / 1e4 AS projection_2021_2031_ha, j.on_track
      FROM territory t LEFT JOIN last USING (level, code) LEFT JOIN fl USING (level, code)
      LEFT JOIN en USING (level, code) LEFT JOIN trajectory j USING (level, code)`,
  };
  const columnComments: Record<string, string> = {
    name: 'Territory name',
    label: 'Category label (décret 2023-1096)',
    share_of_area: 'Area / territory area',
    area_ha: 'Area in hectares',
    last_vintage: 'Last vintage year (latest year combined)',
    artificialised_ha_last: 'Artificialised area at the last vintage (ha)',
    artificialised_share_last: 'Artificialised share of the territory area at the last vintage',
    net_artificialisation_ha: 'Net artificialisation over first → last (ha)',
    net_artificialisation_ha_per_year: 'Net artificialisation over first → last, per year (ha/yr)',
    enaf_consumption_ha: 'ENAF consumption over first → last (ha), measured from OCS',
    enaf_consumption_ha_per_year: 'ENAF consumption over first → last, per year (ha/yr)',
    coverage_status: 'complete_uniform, complete_mixed, partial or no_data',
    vintages: 'Vintage years of the territory, with départements when they differ',
    reference_ha_per_year: 'ENAF consumption per year over the reference period (ha/yr, sum of commune rates)',
  };
  for (const [name, sql] of Object.entries(views)) {
    await connection.run(`CREATE OR REPLACE VIEW ${name} AS ${sql}`);
    await connection.run(`COMMENT ON VIEW ${name} IS ${sqlString(VIEW_COMMENTS[name]!)}`);
    const reader = await connection.runAndReadAll(`SELECT column_name FROM duckdb_columns() WHERE table_name = ${sqlString(name)}`);
    for (const [column] of reader.getRows() as Array<[string]>) {
      await connection.run(`COMMENT ON COLUMN ${name}.${column} IS ${sqlString(viewColumnComment(column, columnComments))}`);
    }
  }
}

/** A view column's comment: its own, else the indicator column it converts (`_ha` ← `_m2`), else a generic one. */
function viewColumnComment(column: string, own: Record<string, string>): string {
  if (own[column]) return own[column];
  const m2 = column.replace(/_ha(_per_year)?$/, '_m2$1');
  for (const table of Object.values(INDICATOR_COMMENTS)) {
    const text = table.columns[m2] ?? table.columns[column];
    if (text) return m2 === column ? text : `${text.replace(/m²/g, 'ha')} (hectares)`;
  }
  throw new Error(`no comment for view column ${column}`);
}

/** COMMENT ON every table and column; fails loudly when a column has none (tested). */
export async function applyComments(
  connection: DuckDBConnection,
  comments: Record<string, { table: string; columns: Record<string, string> }>,
): Promise<void> {
  for (const [table, { table: tableComment, columns }] of Object.entries(comments)) {
    await connection.run(`COMMENT ON TABLE ${table} IS ${sqlString(tableComment)}`);
    const reader = await connection.runAndReadAll(`SELECT column_name FROM duckdb_columns() WHERE table_name = ${sqlString(table)}`);
    for (const [column] of reader.getRows() as Array<[string]>) {
      const text = columns[column];
      if (!text) throw new Error(`no comment for ${table}.${column}`);
      await connection.run(`COMMENT ON COLUMN ${table}.${column} IS ${sqlString(text)}`);
    }
  }
}
