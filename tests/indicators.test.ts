import { rmSync } from 'node:fs';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNomenclature } from '../nomenclature/loader.js';
import { INDICATOR_TABLES } from '../pipeline/indicators/run-sql.js';
import { computeIndicators } from '../pipeline/indicators/index.js';
import { buildFixtureDb, CATEGORIES, fixtureTerritories, writeFixtureParquet } from './indicators-fixture.js';

type Row = Record<string, unknown>;

let dir: string;
let instance: DuckDBInstance;
let connection: DuckDBConnection;

async function rows(sql: string): Promise<Row[]> {
  const reader = await connection.runAndReadAll(sql);
  return reader.getRowObjectsJS() as Row[];
}

/** Rows of an indicator table for one territory, keyed by `from_rank→to_rank`. */
async function byPeriod(table: string, level: string, code: string): Promise<Record<string, Row>> {
  const result: Record<string, Row> = {};
  for (const row of await rows(`SELECT * FROM ${table} WHERE level = '${level}' AND code = '${code}'`)) {
    result[`${row.from_rank}→${row.to_rank}`] = row;
  }
  return result;
}

const HA = 10_000;

beforeAll(async () => {
  const built = await buildFixtureDb();
  dir = built.dir;
  instance = await DuckDBInstance.create(built.dbPath, { access_mode: 'READ_ONLY' });
  connection = await instance.connect();
}, 60_000);

afterAll(() => {
  connection?.closeSync();
  instance?.closeSync();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('territory', () => {
  it('sums higher levels from communes and flags coverage and vintages', async () => {
    const territory = await rows(`SELECT level, code, area_m2, coverage_status, vintages, communes FROM territory ORDER BY level, code`);
    expect(territory).toEqual([
      { level: 'commune', code: '54001', area_m2: 4 * HA, coverage_status: 'complete_uniform', vintages: '2010, 2019, 2022', communes: 1 },
      { level: 'commune', code: '54002', area_m2: 2 * HA, coverage_status: 'complete_uniform', vintages: '2010, 2019, 2022', communes: 1 },
      { level: 'commune', code: '57001', area_m2: 5 * HA, coverage_status: 'complete_uniform', vintages: '2011, 2018, 2021', communes: 1 },
      { level: 'commune', code: '57002', area_m2: 1 * HA, coverage_status: 'no_data', vintages: '', communes: 1 },
      { level: 'departement', code: '54', area_m2: 6 * HA, coverage_status: 'complete_uniform', vintages: '2010, 2019, 2022', communes: 2 },
      { level: 'departement', code: '57', area_m2: 6 * HA, coverage_status: 'partial', vintages: '2011, 2018, 2021', communes: 2 },
      { level: 'epci', code: '200000001', area_m2: 6 * HA, coverage_status: 'complete_uniform', vintages: '2010, 2019, 2022', communes: 2 },
      { level: 'region', code: '44', area_m2: 12 * HA, coverage_status: 'partial', vintages: '2010, 2019, 2022 (54); 2011, 2018, 2021 (57)', communes: 4 },
      { level: 'scot', code: 'S1', area_m2: 9 * HA, coverage_status: 'complete_mixed', vintages: '2010, 2019, 2022 (54); 2011, 2018, 2021 (57)', communes: 2 },
    ]);
  });

  it('stores higher-level geometry as the union of the communes, with the Lambert-93 CRS', async () => {
    const [epci] = await rows(`SELECT ST_AsText(geom) AS wkt, ST_CRS(geom) AS crs FROM territory WHERE level = 'epci'`);
    expect(epci!.wkt).toMatch(/^POLYGON/);
    expect(String(epci!.crs)).toContain('"code":2154');
  });
});

describe('stock', () => {
  it('gives exact stocks per vintage, ranking mixed years together', async () => {
    const summary = await rows(`SELECT * FROM stock_summary WHERE (level, code) IN (('commune', '54001'), ('region', '44')) ORDER BY level, vintage_rank`);
    expect(summary.map((r) => [r.code, r.vintage, r.vintage_rank, r.covered_m2, r.uncovered_m2, r.artificialised_m2, r.sealed_m2, r.years_combined])).toEqual([
      ['54001', 2010, 1, 4 * HA, 0, 1 * HA, 0, '2010 (54)'],
      ['54001', 2019, 2, 4 * HA, 0, 2 * HA, 1 * HA, '2019 (54)'],
      ['54001', 2022, 3, 4 * HA, 0, 2 * HA, 2 * HA, '2022 (54)'],
      ['44', 2011, 1, 11 * HA, 1 * HA, 2 * HA, 1 * HA, '2010 (54); 2011 (57)'],
      ['44', 2019, 2, 11 * HA, 1 * HA, 7 * HA, 5 * HA, '2018 (57); 2019 (54)'],
      ['44', 2022, 3, 11 * HA, 1 * HA, 8 * HA, 6 * HA, '2021 (57); 2022 (54)'],
    ]);
    expect(summary[1]!.artificialised_share).toBeCloseTo(0.5, 12);
    const stock = await rows(`SELECT category, area_m2 FROM stock WHERE level = 'epci' AND vintage_rank = 3 ORDER BY category`);
    expect(stock).toEqual([
      { category: 1, area_m2: 1 * HA },
      { category: 2, area_m2: 1 * HA },
      { category: 3, area_m2: 1 * HA },
      { category: 7, area_m2: 1 * HA },
      { category: 8, area_m2: 1 * HA },
      { category: 9, area_m2: 1 * HA },
    ]);
  });

  it('category stock of a vintage sums to the covered area', async () => {
    const mismatches = await rows(`
      SELECT s.level, s.code, s.vintage_rank FROM stock_summary s
      JOIN (SELECT level, code, vintage_rank, sum(area_m2) AS total FROM stock GROUP BY ALL) c USING (level, code, vintage_rank)
      WHERE abs(c.total - s.covered_m2) > 1e-6`);
    expect(mismatches).toEqual([]);
  });
});

describe('flux', () => {
  it('gives exact artificialisation per commune and period, annualised per commune', async () => {
    const a = await byPeriod('artif_flux', 'commune', '54001');
    expect(Object.keys(a).sort()).toEqual(['1→2', '1→3', '2→3']);
    expect([a['1→2']!.artificialisation_m2, a['1→2']!.desartificialisation_m2, a['1→2']!.net_m2, a['1→2']!.years]).toEqual([HA, 0, HA, 9]);
    expect([a['2→3']!.artificialisation_m2, a['2→3']!.desartificialisation_m2, a['2→3']!.net_m2, a['2→3']!.years]).toEqual([HA, HA, 0, 3]);
    expect([a['1→3']!.from_vintage, a['1→3']!.to_vintage, a['1→3']!.net_m2, a['1→3']!.years]).toEqual([2010, 2022, HA, 12]);
    expect(a['1→3']!.net_m2_per_year).toBeCloseTo(HA / 12, 4);
    expect(a['1→3']!.net_share_of_area).toBeCloseTo(0.25, 12);
  });

  it('combines mixed vintages by rank: per-year sums commune rates, years is the area-weighted mean', async () => {
    const r = await byPeriod('artif_flux', 'region', '44');
    const first = r['1→2']!;
    expect([first.from_vintage, first.to_vintage, first.artificialisation_m2, first.years_combined]).toEqual([
      2010, 2019, 5 * HA, '2010→2019 (54); 2011→2018 (57)',
    ]);
    expect(first.artificialisation_m2_per_year).toBeCloseTo(HA / 9 + HA / 9 + (3 * HA) / 7, 4);
    expect(first.years).toBe(Math.round(((9 * 4 + 9 * 2 + 7 * 5) / 11) * 1e6) / 1e6);
    expect([r['2→3']!.from_vintage, r['2→3']!.to_vintage, r['2→3']!.net_m2]).toEqual([2018, 2022, HA]);
  });

  it('breaks flux down by couverture and usage, imperméabilisation, and transitions', async () => {
    const detail = await rows(`SELECT direction, from_cs, to_cs, from_us, to_us, area_m2 FROM artif_flux_detail
      WHERE level = 'commune' AND code = '54001' AND from_rank = 2 AND to_rank = 3 ORDER BY direction`);
    expect(detail).toEqual([
      { direction: 'artificialisation', from_cs: 'CS2.2.1', to_cs: 'CS1.1.1.2', from_us: 'US1.1', to_us: 'US4.1.1', area_m2: HA },
      { direction: 'desartificialisation', from_cs: 'CS2.2.1', to_cs: 'CS2.2.1', from_us: 'US5', to_us: 'US6.3', area_m2: HA },
    ]);
    const imperm = await byPeriod('imperm_flux', 'departement', '57');
    expect([imperm['1→2']!.impermeabilisation_m2, imperm['2→3']!.impermeabilisation_m2, imperm['1→3']!.net_m2]).toEqual([3 * HA, 0, 3 * HA]);
    const transition = await rows(`SELECT from_category, to_category, area_m2 FROM transition
      WHERE level = 'epci' AND from_rank = 1 AND to_rank = 2 ORDER BY ALL`);
    expect(transition).toEqual([
      { from_category: 4, to_category: 4, area_m2: HA },
      { from_category: 7, to_category: 1, area_m2: HA },
      { from_category: 7, to_category: 7, area_m2: 2 * HA },
      { from_category: 8, to_category: 3, area_m2: HA },
      { from_category: 8, to_category: 8, area_m2: HA },
    ]);
  });

  it('artificialised stock(t1) − stock(t0) = artificialisation − désartificialisation everywhere', async () => {
    const mismatches = await rows(`
      SELECT f.level, f.code, f.from_rank, f.to_rank, f.net_m2, s1.artificialised_m2 - s0.artificialised_m2 AS stock_change
      FROM artif_flux f
      JOIN stock_summary s0 ON s0.level = f.level AND s0.code = f.code AND s0.vintage_rank = f.from_rank
      JOIN stock_summary s1 ON s1.level = f.level AND s1.code = f.code AND s1.vintage_rank = f.to_rank
      WHERE abs(f.net_m2 - (s1.artificialised_m2 - s0.artificialised_m2)) > 1e-6`);
    expect(mismatches).toEqual([]);
    expect((await rows(`SELECT count(*)::INTEGER AS n FROM artif_flux`))[0]!.n).toBe(24);
  });
});

describe('ENAF', () => {
  it('gives consumption by destination and renaturation', async () => {
    const consumption = await rows(`SELECT from_rank, to_rank, destination, area_m2 FROM enaf_consumption
      WHERE level = 'scot' ORDER BY ALL`);
    expect(consumption).toEqual([
      { from_rank: 1, to_rank: 2, destination: 'habitat', area_m2: 4 * HA },
      { from_rank: 1, to_rank: 3, destination: 'habitat', area_m2: 4 * HA },
      { from_rank: 1, to_rank: 3, destination: 'inconnu', area_m2: HA },
      { from_rank: 1, to_rank: 3, destination: 'route', area_m2: HA },
      { from_rank: 2, to_rank: 3, destination: 'inconnu', area_m2: HA },
      { from_rank: 2, to_rank: 3, destination: 'route', area_m2: HA },
    ]);
    const summary = await byPeriod('enaf_summary', 'epci', '200000001');
    expect([summary['1→2']!.consumption_m2, summary['2→3']!.consumption_m2, summary['2→3']!.renaturation_m2]).toEqual([2 * HA, HA, HA]);
    expect(summary['1→2']!.consumption_m2_per_year).toBeCloseTo((2 * HA) / 9, 4);
    expect(summary['1→2']!.consumption_share_of_area).toBeCloseTo(1 / 3, 12);
  });
});

describe('trajectory without a Cerema file (source ocs)', () => {
  it('estimates a reference from an OCS period covering 2011–2020 well enough, never a 2021–2030 consumption from a pre-2021 rate', async () => {
    const trajectory = await rows(`SELECT * FROM trajectory ORDER BY level, code`);
    const get = (level: string, code: string) => trajectory.find((r) => r.level === level && r.code === code)!;
    const c54001 = get('commune', '54001');
    // 2010→2019: 8 years of the decade, 1 of 9 outside; 1 ha consumed → 10/9 ha over 2011–2020.
    expect([c54001.source, c54001.reference_basis, c54001.reduction_target, c54001.reduction_target_from, c54001.guarantee_applied]).toEqual([
      'ocs', 'OCS 2010→2019 (54) × 10 / period length (estimated)', 0.5, 'default', false,
    ]);
    expect(c54001.reference_2011_2020_m2).toBeCloseTo((HA / 9) * 10, 6);
    expect(c54001.allowance_2021_2030_m2).toBeCloseTo((HA / 9) * 5, 6);
    // 2019→2022 straddles 2021: not used as consumption since 2021.
    expect([c54001.consumed_since_2021_m2, c54001.consumed_through_year, c54001.remaining_m2, c54001.status]).toEqual([null, null, null, 'no_consumption_data']);
    expect(c54001.status_reason).toBe(
      'no OCS period starting in 2021 or later: consumption since 2021 is not measured (a pre-2021 rate is not used); garantie communale not applied: no --planning-documents file',
    );
    expect(get('commune', '57001').reference_2011_2020_m2).toBeCloseTo(((3 * HA) / 7) * 10, 6);
    // A parent's allowance comes from its own reference, never from floored communes.
    const epci = get('epci', '200000001');
    expect(epci.reference_2011_2020_m2).toBeCloseTo((2 * HA / 9) * 10, 6);
    expect(epci.allowance_2021_2030_m2).toBeCloseTo((2 * HA / 9) * 5, 6);
    expect(get('commune', '57002')).toMatchObject({ status: 'not_computable', reference_2011_2020_m2: null, allowance_2021_2030_m2: null, communes_without_data: 1 });
    expect(get('commune', '57002').status_reason).toBe(
      'no OCS period covering 2011–2020 well enough (≥ 6 years of the decade, ≤ 50 % outside it); garantie communale not applied: no --planning-documents file',
    );
    const region = get('region', '44');
    expect([region.status, region.communes, region.communes_without_data]).toEqual(['not_computable', 4, 1]);
    expect(region.status_reason).toBe(
      '1 of 4 communes have no OCS period covering 2011–2020 well enough (≥ 6 years of the decade, ≤ 50 % outside it); allowance from the territory\'s own reference (garantie communale not summed)',
    );
  });
});

describe('higher levels', () => {
  it('equal the sum of their communes in every additive column', async () => {
    const additive: Record<string, { keys: string[]; values: string[] }> = {
      stock: { keys: ['vintage_rank', 'category'], values: ['area_m2'] },
      stock_summary: { keys: ['vintage_rank'], values: ['covered_m2', 'artificialised_m2', 'sealed_m2'] },
      artif_flux: { keys: ['from_rank', 'to_rank'], values: ['artificialisation_m2', 'desartificialisation_m2', 'net_m2', 'net_m2_per_year'] },
      imperm_flux: { keys: ['from_rank', 'to_rank'], values: ['net_m2', 'net_m2_per_year'] },
      enaf_summary: { keys: ['from_rank', 'to_rank'], values: ['consumption_m2', 'renaturation_m2', 'consumption_m2_per_year'] },
    };
    for (const [table, { keys, values }] of Object.entries(additive)) {
      // first → last of a commune may sit at a different rank key than its territory's: compare consecutive periods only.
      const consecutive = keys.includes('to_rank') ? 'AND t.to_rank = t.from_rank + 1' : '';
      const join = keys.map((k) => `AND c.${k} = t.${k}`).join(' ');
      const mismatches = await rows(`
        SELECT t.level, t.code, ${values.map((v) => `t.${v} AS ${v}, (SELECT sum(c.${v}) FROM ${table} c JOIN membership m ON m.commune_code = c.code
          WHERE c.level = 'commune' AND m.level = t.level AND m.code = t.code ${join}) AS sum_${v}`).join(', ')}
        FROM ${table} t WHERE t.level <> 'commune' ${consecutive}`);
      for (const row of mismatches) for (const v of values) expect(row[v], `${table}.${v} ${row.level} ${row.code}`).toBeCloseTo(row[`sum_${v}`] as number, 4);
      expect(mismatches.length, table).toBeGreaterThan(0);
    }
  });
});

describe('database', () => {
  it('has a comment on every table, view and column', async () => {
    const tables = await rows(`SELECT table_name AS name, comment FROM duckdb_tables() WHERE NOT temporary
      UNION ALL SELECT view_name, comment FROM duckdb_views() WHERE NOT internal AND schema_name = 'main'`);
    const names = tables.map((t) => t.name);
    for (const table of [...Object.keys(INDICATOR_TABLES), 'territory', 'membership', 'piece', 'piece_class', 'nomenclature_category', 'run_metadata']) {
      expect(names).toContain(table);
    }
    for (const view of ['v_stock_ha', 'v_artif_flux_ha', 'v_enaf_ha', 'v_trajectory_ha', 'v_territory_summary']) expect(names).toContain(view);
    expect(tables.filter((t) => !t.comment)).toEqual([]);
    const columns = await rows(`SELECT table_name, column_name FROM duckdb_columns() WHERE schema_name = 'main' AND NOT internal AND (comment IS NULL OR comment = '')`);
    expect(columns).toEqual([]);
  });

  it('answers headline questions in hectares, one row per territory', async () => {
    const summary = await rows(`SELECT * FROM v_territory_summary ORDER BY level, code`);
    expect(summary).toHaveLength(9);
    const epci = summary.find((r) => r.level === 'epci')!;
    expect([epci.area_ha, epci.artificialised_ha_last, epci.from_vintage, epci.to_vintage, epci.net_artificialisation_ha, epci.enaf_consumption_ha]).toEqual([
      6, 3, 2010, 2022, 2, 3,
    ]);
    expect(epci.allowance_2021_2030_ha).toBeCloseTo(10 / 9, 6);
  });

  it('records the nomenclature and run metadata', async () => {
    expect(await rows(`SELECT count(*)::INTEGER AS n FROM nomenclature_category`)).toEqual([{ n: 10 }]);
    const metadata = await rows(`SELECT key FROM run_metadata ORDER BY key`);
    expect(metadata.map((r) => r.key)).toEqual(['indicator_options', 'inputs', 'nomenclature_version', 'tool_version']);
  });

  it('refuses inconsistent inputs with a user error naming the file', async () => {
    const { piece, pieceClass } = await writeFixtureParquet(dir);
    const territories = fixtureTerritories();
    territories.communes = territories.communes.filter((c) => c.code !== '57001');
    territories.levels = territories.levels.filter((l) => l.commune_code !== '57001');
    await expect(
      computeIndicators({
        dbPath: `${dir}/bad.duckdb`, pieceParquet: piece, pieceClassParquet: pieceClass, territories,
        nomenclature: { version: 't', categories: CATEGORIES, couverture: loadNomenclature().couverture, usage: loadNomenclature().usage }, runMetadata: {},
      }),
    ).rejects.toMatchObject({
      stage: 'indicators',
      isUserError: true,
      cause: { name: 'UserError', message: 'piece in an unknown commune', context: { feature: '57001' } },
    });
  });
});
