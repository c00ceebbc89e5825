import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from '../core/sql.js';

/**
 * COMMENT text of every table, view and column of the output database (docs/OUTPUT_SCHEMA.md lists the same).
 * applyComments fails loudly on a column without one, so a new column cannot ship undocumented.
 */

export type TableComments = Record<string, { table: string; columns: Record<string, string> }>;

export const BASE_COMMENTS: TableComments = {
  territory: {
    table: 'Territories of every level with area, data coverage and geometry (EPSG:2154)',
    columns: {
      level: 'commune, epci, scot, departement or region',
      code: 'Territory code (INSEE commune or département code, SIREN of the EPCI, SCoT code, région code)',
      name: 'Territory name',
      area_m2: 'Area in m²: cleaned commune polygon area; higher levels sum their communes',
      coverage_status: 'complete_uniform (same vintages everywhere), complete_mixed (years differ between communes), partial (some communes, or more than 0.5 % of the area at some vintage, without data), no_data',
      vintages: 'Vintage years, with their départements when they differ: 2018, 2021 (67); 2019, 2022 (68)',
      communes: 'Number of member communes',
      geom: 'Polygon(s) in EPSG:2154: cleaned commune partition; higher levels are the union of their communes',
    },
  },
  membership: {
    table: 'Which territory of each level every commune belongs to (the commune itself included)',
    columns: { commune_code: 'INSEE code of the commune', level: 'Territory level', code: 'Territory code at that level' },
  },
  piece: {
    table: 'Atomic pieces: one commune, one class per vintage (overlay of all vintages and communes)',
    columns: {
      piece_id: 'Piece identifier, assigned after a deterministic sort',
      commune_code: 'INSEE code of the commune holding the piece',
      area_m2: 'Planar area in m² (EPSG:2154)',
      geom: 'Polygon in EPSG:2154',
    },
  },
  piece_class: {
    table: 'Class of each piece at each vintage covering it (no row: not covered at that vintage)',
    columns: {
      piece_id: 'Piece identifier (piece.piece_id)',
      vintage: 'Vintage year',
      code_cs: 'Couverture code (CS, OCS GE)',
      code_us: 'Usage code (US, OCS GE)',
      category: 'Décret 2023-1096 category 1..10, 0 = unclassified',
      artificialised: 'Artificialised according to artif_rule',
      artif_rule: 'Which rule decided: matrix (CS×US), official (producer artif field), threshold (décret 2023-1096 patch thresholds applied to a matrix class) or unclassified',
      sealed: 'Sealed (imperméabilisé): categories 1 and 2',
      enaf: 'naf (natural, agricultural, forest), urban, or unclassified',
      destination: 'ENAF destination when urban (habitat, activite, mixte, route, ferre, autre_infrastructure, inconnu); NULL when NAF',
    },
  },
  nomenclature_category: {
    table: 'Décret 2023-1096 categories (annex to art. R.101-1 code de l’urbanisme)',
    columns: { category: 'Category number 1..10 (0 = unclassified)', label: 'Category label', artificialised: 'Whether the category counts as artificialised' },
  },
  nomenclature_code: {
    table: 'OCS GE couverture (CS) and usage (US) codes with their labels and hierarchy',
    columns: { axis: "'cs' (couverture) or 'us' (usage)", code: 'OCS GE code, e.g. CS1.1.1.1 or US235', parent: 'Parent code in the hierarchy (NULL at the top)', label: 'French label' },
  },
  run_metadata: {
    table: 'How this database was produced: inputs with sha256, nomenclature version, options, tool version, timings',
    columns: { key: 'Metadata key', value: 'Metadata value (JSON when structured)' },
  },
};

/** The table written with --vintage-years only (pipeline/indicators/real-years.ts). */
export const VINTAGE_YEAR_COMMENTS: TableComments = {
  vintage_year: {
    table: 'Real year behind each nominal vintage of each commune, from the --vintage-years table (recorded in run_metadata)',
    columns: {
      commune_code: 'INSEE code of the commune',
      vintage: 'Nominal vintage label (the vintage columns of every table)',
      year: 'Real year of the data behind the label: used for years, *_per_year and the trajectory',
      source: "Which row gave the year: 'departement' or 'commune' (the table's row), 'label' (no row: the label is used, with a warning)",
    },
  },
};

/** Columns shared by the period tables, with their comments. */
const PERIOD_COLUMNS: Record<string, string> = {
  level: 'Territory level: commune, epci, scot, departement or region',
  code: 'Territory code (INSEE commune or département code, SIREN of the EPCI, SCoT code, région code)',
  from_vintage: 'Start vintage label of the period (earliest label combined when communes have different vintages); real years: years_combined, vintage_year',
  to_vintage: 'End vintage label of the period (latest label combined when communes have different vintages)',
  from_rank: 'Rank of the start vintage among each commune’s vintages (1 = first)',
  to_rank: 'Rank of the end vintage (for first → last: the last rank of the territory)',
};

const YEARS_COLUMN = 'Period length in real years (the labels without --vintage-years), mean of the communes’ period lengths weighted by commune area, rounded to 1e-6';

/** COMMENT text for every indicator table and column. */
export const INDICATOR_COMMENTS: TableComments = {
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
      years_combined: 'Vintage labels combined, with their départements and real years when they differ: 2018 (67); 2019 (68); 2010 = 2007 (55)',
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
      artificialisation_m2_per_year: 'Sum over communes of the commune’s artificialisation / its period length in real years',
      desartificialisation_m2_per_year: 'Sum over communes of the commune’s désartificialisation / its period length',
      net_m2_per_year: 'Sum over communes of the commune’s net artificialisation / its period length',
      net_share_of_area: 'net_m2 / territory area_m2 (whole territory, covered or not), over the whole period, not annualised',
      years_combined: 'Vintage pairs combined, with their départements and real years when they differ: 2018→2021 (67); 2010→2019 = 2007→2018 (55)',
      rule_mix: 'One end decided by IGN’s artif field (official) and the other by the CS×US matrix or its thresholds, for some commune: the flux mixes two methods',
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
  consumption_cerema: {
    table: 'NAF consumption from the land-tax files (Cerema, the legal reference) per territory, year and destination (m²); every level sums its communes',
    columns: {
      level: PERIOD_COLUMNS.level!,
      code: PERIOD_COLUMNS.code!,
      year: 'Year of the flux, 1 Jan → 1 Jan (naf11art12 is 2011)',
      destination: 'total (nafYYartZZ), or its breakdown: activite, habitat, mixte, route, ferroviaire, inconnu',
      area_m2: 'Area consumed in m², summed over the member communes present in the Cerema file',
    },
  },
  consumption_comparison: {
    table: 'ENAF consumption measured from OCS next to Cerema’s land-tax figure over the same years, per territory and OCS period (only with a Cerema file)',
    columns: {
      ...PERIOD_COLUMNS,
      ocs_consumption_m2: 'ENAF consumption measured from OCS over the period (enaf_summary.consumption_m2)',
      cerema_consumption_m2: 'Cerema consumption over the real years from_year … to_year − 1 of each commune period, summed; NULL unless every commune has all those years in the file',
      difference_m2: 'ocs_consumption_m2 − cerema_consumption_m2',
    },
  },
  trajectory: {
    table: 'ZAN trajectory: 2011–2020 reference, 2021–2030 allowance (reference × (1 − target), garantie communale), consumption since 2021 and status',
    columns: {
      level: PERIOD_COLUMNS.level!,
      code: PERIOD_COLUMNS.code!,
      source: "cerema (land-tax files, the legal reference) or ocs (estimated from land-use periods, no Cerema file given)",
      reference_2011_2020_m2: 'Consumption of the ten years 2011…2020 (1 Jan 2011 → 1 Jan 2021); NULL when not computable',
      reference_basis: 'What the reference is made of: Cerema 2011–2020, or the OCS periods used (estimated)',
      reduction_target: 'Reduction of consumption against the reference (0.5 = −50 %)',
      reduction_target_from: 'Where the target comes from: own (--targets), the enclosing territory it is inherited from, or default',
      allowance_2021_2030_m2: 'Allowed consumption 1 Jan 2021 → 1 Jan 2031: reference × (1 − reduction_target), at least 1 ha for eligible communes (garantie communale); parents from their own reference',
      guarantee_applied: 'The garantie communale raised this commune’s allowance (communes with an eligible planning document only)',
      consumed_since_2021_m2: 'Consumption measured from 1 Jan 2021 through the end of consumed_through_year; NULL when not measured',
      consumed_through_year: 'Last year counted in consumed_since_2021_m2',
      remaining_m2: 'allowance_2021_2030_m2 − consumed_since_2021_m2 (negative: exceeded)',
      estimated_2021_2030_m2: 'Estimate: consumed since 2021 + mean annual consumption since 2021 × the years left to 2030',
      status: 'within_allowance, estimated_to_exceed, exceeded, no_consumption_data or not_computable',
      status_reason: 'Why: missing data, the estimate, the garantie communale (applied or why not)',
      communes: 'Member communes',
      communes_without_data: 'Member communes without a reference: absent from the Cerema file, or (ocs) without an OCS period covering 2011–2020 well enough',
    },
  },
  check_ign_difference: {
    table: 'Cross-check of our changes against IGN difference products (--ocsge: DIFF, zan_evol) per territory, period and measure (m², rounded to cm²); never used as data',
    columns: {
      level: PERIOD_COLUMNS.level!,
      code: PERIOD_COLUMNS.code!,
      period: 'Millésimes compared, from-to (the département’s pair IGN delivered a difference layer for)',
      measure: 'artificialisation and desartificialisation (zan_evol, artificialisation = 1 / −1), or cs_us_change (DIFF: couverture or usage changed)',
      ours_m2: 'Area with this change in our pieces between the two millésimes (m²)',
      ign_m2: 'Area of IGN’s difference polygons with this change, cut by the communes (m²)',
      diff_m2: 'ours_m2 − ign_m2 (m²): 0 when both agree',
    },
  },
};

/** COMMENT text for the views (tables and columns). */
export const VIEW_COMMENTS: Record<string, string> = {
  v_stock_ha: 'Stock by category in hectares, with category label and share of the territory area',
  v_artif_flux_ha: 'Artificialisation flux in hectares and hectares per year',
  v_enaf_ha: 'ENAF consumption and renaturation in hectares and hectares per year',
  v_trajectory_ha: 'ZAN trajectory (2011–2020 reference, 2021–2030 allowance, consumption since 2021) in hectares',
  v_territory_summary: 'One row per territory with headline figures in hectares (last vintage, first → last period, trajectory)',
};

/** Comments of view columns that are not an indicator column converted to hectares. */
const VIEW_COLUMN_COMMENTS: Record<string, string> = {
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
  trajectory_status: 'Trajectory status (trajectory.status)',
};
/** COMMENT ON every view and its columns. */
export async function applyViewComments(connection: DuckDBConnection): Promise<void> {
  for (const [name, comment] of Object.entries(VIEW_COMMENTS)) {
    await connection.run(`COMMENT ON VIEW ${name} IS ${sqlString(comment)}`);
    const reader = await connection.runAndReadAll(`SELECT column_name FROM duckdb_columns() WHERE table_name = ${sqlString(name)}`);
    for (const [column] of reader.getRows() as Array<[string]>) {
      await connection.run(`COMMENT ON COLUMN ${name}.${column} IS ${sqlString(viewColumnComment(column))}`);
    }
  }
}

/** A view column's comment: its own, else the indicator column it converts (`_ha` ← `_m2`), else a generic one. */
function viewColumnComment(column: string): string {
  if (VIEW_COLUMN_COMMENTS[column]) return VIEW_COLUMN_COMMENTS[column];
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
  comments: TableComments,
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
