import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadNomenclature } from '../nomenclature/loader.js';
import { loadZanRules } from '../nomenclature/zan-rules.js';
import { computeIndicators } from '../pipeline/indicators/index.js';
import { overlayVintages } from '../pipeline/overlay/index.js';
import { applyThresholds, type ThresholdClass, type ThresholdPiece } from '../pipeline/overlay/thresholds.js';
import { readTerritories, territoryGeometries, type Territories } from '../pipeline/territories/index.js';
import { polygon, rect, writeCommunes, writeStage, type StagedPolygon } from './helpers/staged.js';

/**
 * Hand-built enclaves in commune 54001 (200 m × 200 m), two matrix-classified vintages:
 * - south half: a town (sealed, CS1.1.1.2) holding a 1,600 m² wood (CS2.1.1.1 × US1.2) that is sealed in 2019;
 * - north half: a forest holding a 900 m² gravel yard (CS1.1.2.1 × US5) that is wooded again in 2019, a 100 m² and a
 *   25 m² building (CS1.1.1.1), and a 400 m² yard on the commune's edge (not enclosed: the land beyond is unknown).
 * With the thresholds the wood counts artificialised, the yard and the 25 m² building not (the 100 m² building stays),
 * so neither change of 2010 → 2019 is an artificialisation or a désartificialisation.
 */

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ocs-thresholds-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const WOOD = rect(20, 20, 60, 60);
const YARD = rect(120, 140, 150, 170);
const BUILDING = rect(40, 140, 50, 150);
const SHED = rect(80, 140, 85, 145);
const EDGE_YARD = rect(0, 180, 20, 200);
const TOWN = polygon([[0, 0], [200, 0], [200, 100], [0, 100]], [[20, 20], [60, 20], [60, 60], [20, 60]]);
const holes = (...rings: Array<Array<[number, number]>>) => polygon([[0, 100], [200, 100], [200, 200], [20, 200], [20, 180], [0, 180]], ...rings);
const ring = (x1: number, y1: number, x2: number, y2: number): Array<[number, number]> => [[x1, y1], [x2, y1], [x2, y2], [x1, y2]];

const forest = (geom: StagedPolygon['geom']): StagedPolygon => ({ geom, cs: 'CS2.1.1.1', us: 'US1.2' });

async function run(name: string, thresholds: boolean, territories: Territories): Promise<Record<string, unknown[]>> {
  const out = await overlayVintages({
    stageDir: path.join(tmp, 'stage'), territories, jobs: 1, workDir: path.join(tmp, name),
    thresholds: thresholds ? loadZanRules().thresholds : null,
  });
  const nomenclature = loadNomenclature();
  const dbPath = path.join(tmp, `${name}.duckdb`);
  await computeIndicators({
    dbPath, pieceParquet: out.pieceParquet, pieceClassParquet: out.pieceClassParquet,
    territories: { ...territories, unions: territoryGeometries(territories) }, nomenclature, runMetadata: {},
  });
  const instance = await DuckDBInstance.create(dbPath, { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  const query = async (sql: string) => (await connection.runAndReadAll(sql)).getRowObjectsJS();
  const result = {
    stats: [out.stats.thresholds],
    summary: await query(`SELECT vintage, artificialised_m2 FROM stock_summary WHERE level = 'commune' ORDER BY vintage`),
    stock: await query(`SELECT vintage, category, area_m2 FROM stock WHERE level = 'commune' ORDER BY vintage, category`),
    flux: await query(`SELECT artificialisation_m2, desartificialisation_m2, net_m2, rule_mix FROM artif_flux WHERE level = 'commune'`),
    rules: await query(`SELECT c.vintage, c.artif_rule, c.category, round(sum(p.area_m2), 6) AS area_m2 FROM piece_class c JOIN piece p USING (piece_id)
                        GROUP BY ALL ORDER BY ALL`),
  };
  connection.closeSync();
  instance.closeSync();
  return result;
}

describe('threshold rules on hand-built enclaves', () => {
  let withRules: Record<string, unknown[]>;
  let without: Record<string, unknown[]>;
  beforeAll(async () => {
    const territories = await readTerritories({ path: writeCommunes(path.join(tmp, 'communes.gpkg'), [{ code: '54001', geom: rect(0, 0, 200, 200) }]) });
    writeStage(path.join(tmp, 'stage'), [
      {
        year: 2010,
        polygons: [
          { geom: TOWN, cs: 'CS1.1.1.2', us: 'US5' },
          forest(WOOD),
          forest(holes(ring(120, 140, 150, 170), ring(40, 140, 50, 150), ring(80, 140, 85, 145))),
          { geom: YARD, cs: 'CS1.1.2.1', us: 'US5' },
          { geom: BUILDING, cs: 'CS1.1.1.1', us: 'US5' },
          { geom: SHED, cs: 'CS1.1.1.1', us: 'US5' },
          { geom: EDGE_YARD, cs: 'CS1.1.2.1', us: 'US5' },
        ],
      },
      {
        year: 2019,
        polygons: [
          { geom: rect(0, 0, 200, 100), cs: 'CS1.1.1.2', us: 'US5' },
          forest(holes(ring(40, 140, 50, 150), ring(80, 140, 85, 145))),
          { geom: BUILDING, cs: 'CS1.1.1.1', us: 'US5' },
          { geom: SHED, cs: 'CS1.1.1.1', us: 'US5' },
          { geom: EDGE_YARD, cs: 'CS1.1.2.1', us: 'US5' },
        ],
      },
    ]);
    without = await run('without', false, territories);
    withRules = await run('with', true, territories);
  }, 120_000);

  it('gives exact artificialised stock with and without the thresholds', () => {
    expect(without.summary).toEqual([
      { vintage: 2010, artificialised_m2: 20_000 - 1600 + 900 + 100 + 25 + 400 },
      { vintage: 2019, artificialised_m2: 20_000 + 100 + 25 + 400 },
    ]);
    expect(withRules.summary).toEqual([
      { vintage: 2010, artificialised_m2: 20_000 + 100 + 400 },
      { vintage: 2019, artificialised_m2: 20_000 + 100 + 400 },
    ]);
  });

  it('gives exact flux: changes of patches under 2,500 m² are neither artificialisation nor désartificialisation', () => {
    expect(without.flux).toEqual([{ artificialisation_m2: 1600, desartificialisation_m2: 900, net_m2: 700, rule_mix: false }]);
    expect(withRules.flux).toEqual([{ artificialisation_m2: 0, desartificialisation_m2: 0, net_m2: 0, rule_mix: false }]);
  });

  it('moves the categories with the status and marks the pieces decided by a threshold', () => {
    // 2010: the wood is category 4 (vegetation absorbed in artificialised land), the yard and the shed 6 (the staged
    // matrix classes of tests/helpers/staged.ts put every non-artificialised couverture in 7).
    expect(withRules.rules).toEqual([
      { vintage: 2010, artif_rule: 'matrix', category: 1, area_m2: 100 },
      { vintage: 2010, artif_rule: 'matrix', category: 2, area_m2: 18_400 },
      { vintage: 2010, artif_rule: 'matrix', category: 3, area_m2: 400 },
      { vintage: 2010, artif_rule: 'matrix', category: 7, area_m2: 20_000 - 400 - 900 - 100 - 25 },
      { vintage: 2010, artif_rule: 'threshold', category: 4, area_m2: 1600 },
      { vintage: 2010, artif_rule: 'threshold', category: 6, area_m2: 900 + 25 },
      { vintage: 2019, artif_rule: 'matrix', category: 1, area_m2: 100 },
      { vintage: 2019, artif_rule: 'matrix', category: 2, area_m2: 20_000 },
      { vintage: 2019, artif_rule: 'matrix', category: 3, area_m2: 400 },
      { vintage: 2019, artif_rule: 'matrix', category: 7, area_m2: 20_000 - 400 - 100 - 25 },
      { vintage: 2019, artif_rule: 'threshold', category: 6, area_m2: 25 },
    ]);
    expect(withRules.stats).toEqual([{ applied: true, classes: 4, area_m2: 1600 + 900 + 25 + 25 }]);
    expect(without.stats).toEqual([{ applied: false, classes: 0, area_m2: 0 }]);
  });
});

describe('patches and enclosure', () => {
  const rules = loadZanRules().thresholds;
  const piece = (geom: ReturnType<typeof rect>, artificialised: boolean | null, cs = 'CS1.1.2.1'): ThresholdPiece<ThresholdClass> => ({
    geom, area: geom.getArea(), classes: [artificialised === null ? null : { code_cs: cs, artificialised, artif_rule: 'matrix' }],
  });
  const flip = (cls: ThresholdClass, artificialised: boolean): ThresholdClass => ({ ...cls, artificialised, artif_rule: 'threshold' });
  const statuses = (pieces: Array<ThresholdPiece<ThresholdClass>>) => pieces.map((p) => p.classes[0]?.artificialised ?? null);

  // A 100 m square of artificialised land (four 50 m quarters) around the pieces under test.
  const ring = (hole: ReturnType<typeof rect>) => [
    piece(rect(0, 0, 100, 100).difference(hole) as ReturnType<typeof rect>, true),
  ];

  it('joins two small pieces sharing an edge into one patch, and stops at 2,500 m²', () => {
    const a = piece(rect(10, 10, 40, 50), false);
    const b = piece(rect(40, 10, 70, 50), false); // 1,200 + 1,200 m²: one patch under 2,500 m² → artificialised
    const pieces = [...ring(rect(10, 10, 70, 50)), a, b];
    expect(applyThresholds(pieces, rules, flip)).toEqual({ classes: 2, area_m2: 2400 });
    expect(statuses(pieces)).toEqual([true, true, true]);
    const c = piece(rect(10, 10, 40, 60), false);
    const d = piece(rect(40, 10, 70, 60), false); // 1,500 + 1,500 m² = 3,000 m²: too big, unchanged
    const bigger = [...ring(rect(10, 10, 70, 60)), c, d];
    expect(applyThresholds(bigger, rules, flip).classes).toBe(0);
  });

  it('does not join pieces touching at a corner only', () => {
    const a = piece(rect(10, 10, 50, 50), false); // 1,600 m²
    const b = piece(rect(50, 50, 90, 90), false); // 1,600 m², corner contact: two patches, each enclosed
    const hole = rect(10, 10, 50, 50).union(rect(50, 50, 90, 90)) as ReturnType<typeof rect>;
    const pieces = [piece(rect(0, 0, 100, 100).difference(hole) as ReturnType<typeof rect>, true), a, b];
    expect(applyThresholds(pieces, rules, flip).classes).toBe(2);
  });

  it('leaves a patch next to land without data, or on the commune edge, as the matrix says', () => {
    const uncovered = [piece(rect(0, 0, 100, 100).difference(rect(10, 10, 60, 40)) as ReturnType<typeof rect>, true), piece(rect(10, 10, 30, 40), false), piece(rect(30, 10, 60, 40), null)];
    expect(applyThresholds(uncovered, rules, flip).classes).toBe(0);
    const edge = [piece(rect(0, 0, 100, 100).difference(rect(0, 10, 30, 40)) as ReturnType<typeof rect>, true), piece(rect(0, 10, 30, 40), false)];
    expect(applyThresholds(edge, rules, flip).classes).toBe(0);
  });
});
