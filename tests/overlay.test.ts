import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StageError, UserError } from '../pipeline/core/errors.js';
import gdal from 'gdal-async';
import { polygonHash } from '../pipeline/core/polygons.js';
import { overlayVintages, type OverlayOutput } from '../pipeline/overlay/index.js';
import { readTerritories, type Territories } from '../pipeline/territories/index.js';
import { queryPieces } from './helpers/pieces.js';
import { polygon, rect, writeCommunes, writeStage, X0, Y0 } from './helpers/staged.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'ocs-overlay-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('hand-built squares', () => {
  let territories: Territories;
  let out: OverlayOutput;
  beforeAll(async () => {
    const communes = writeCommunes(path.join(tmp, 'communes.gpkg'), [
      { code: '54001', geom: rect(0, 0, 100, 100) },
      { code: '54002', geom: rect(100, 0, 200, 100) },
    ]);
    territories = await readTerritories({ path: communes });
    writeStage(path.join(tmp, 'stage'), [
      {
        year: 2010,
        polygons: [
          { geom: rect(0, 0, 50, 100), cs: 'CS2.1.1.1' },
          { geom: rect(50, 0, 150, 100), cs: 'CS2.2.1' }, // crosses the commune border
          { geom: rect(150, 0, 200, 60), cs: 'CS1.1.1.1' },
          // [150,200]×[60,100] left uncovered in 2010
        ],
      },
      {
        year: 2019,
        polygons: [
          // Same square as 2010, ring started elsewhere and reversed: the hash fast path must still match.
          {
            geom: polygon([
              [50, 100],
              [50, 0],
              [0, 0],
              [0, 100],
            ]),
            cs: 'CS2.1.1.1',
          },
          { geom: rect(50, 0, 120, 100), cs: 'CS1.1.1.1' },
          { geom: rect(120, 0, 150, 100), cs: 'CS2.2.1' },
          { geom: rect(150, 0, 200, 60), cs: 'CS1.1.1.1' },
          { geom: rect(150, 60, 200, 100), cs: 'CS1.1.2.1' },
          { geom: rect(300, 0, 310, 10), cs: 'CS1.1.1.1' }, // outside every commune
        ],
      },
    ]);
    out = await overlayVintages({ stageDir: path.join(tmp, 'stage'), territories, jobs: 1, workDir: path.join(tmp, 'work') });
  });

  it('cuts exact pieces with their classes at each vintage', async () => {
    const rows = await queryPieces(
      out,
      `SELECT p.commune_code, round(p.area_m2, 6) AS area, string_agg(c.vintage || ':' || c.code_cs, ' ' ORDER BY c.vintage) AS classes
       FROM piece p LEFT JOIN piece_class c USING (piece_id) GROUP BY p.piece_id, p.commune_code, p.area_m2 ORDER BY 1, 3, 2`,
    );
    expect(rows.map((r) => `${r.commune_code} ${r.area} ${r.classes ?? '-'}`)).toEqual([
      '54001 5000 2010:CS2.1.1.1 2019:CS2.1.1.1',
      '54001 5000 2010:CS2.2.1 2019:CS1.1.1.1',
      '54002 3000 2010:CS1.1.1.1 2019:CS1.1.1.1',
      '54002 2000 2010:CS2.2.1 2019:CS1.1.1.1',
      '54002 3000 2010:CS2.2.1 2019:CS2.2.1',
      '54002 2000 2019:CS1.1.2.1',
    ]);
    const ids = await queryPieces(out, 'SELECT min(piece_id)::INTEGER AS lo, max(piece_id)::INTEGER AS hi, count(*)::INTEGER AS n FROM piece');
    expect(ids[0]).toEqual({ lo: 1, hi: 6, n: 6 });
  });

  it('reports covered, uncovered and outside areas and the fast paths', () => {
    const s = out.stats;
    expect(s.pieces).toBe(6);
    expect(s.vintages.map((v) => [v.key, v.covered_m2, v.uncovered_m2, v.outside_communes_m2])).toEqual([
      ['2010', 18_000, 2_000, 0],
      ['2019', 20_000, 0, 100],
    ]);
    expect(s.uncovered).toEqual([{ commune_code: '54002', vintage: '2010', area_m2: 2_000 }]);
    expect(s.fastPath.identicalGeometry).toBeGreaterThanOrEqual(2);
    expect(s.fastPath.polygonInsidePiece).toBeGreaterThanOrEqual(2);
  });

  it('refuses a missing stage with a user error', async () => {
    const error = await overlayVintages({ stageDir: path.join(tmp, 'nowhere'), territories, jobs: 1, workDir: path.join(tmp, 'w2') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StageError);
    expect((error as StageError).isUserError).toBe(true);
  });

  it('wraps a worker failure with its partition, keeping a user error a user error', async () => {
    const stage = path.join(tmp, 'stage-broken');
    writeStage(stage, [{ year: 2010, polygons: [{ geom: rect(0, 0, 10, 10), cs: 'CS2.1.1.1' }] }]);
    rmSync(path.join(stage, 'vintage-2010.fgb'));
    const manifest = JSON.parse(readFileSync(path.join(stage, 'manifest.json'), 'utf8'));
    expect(manifest.vintages).toHaveLength(1);
    const error = await overlayVintages({ stageDir: stage, territories, jobs: 1, workDir: path.join(tmp, 'w3') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StageError);
    expect((error as StageError).isUserError).toBe(true);
    expect(error).not.toBeInstanceOf(UserError);
  });
});

describe('vintages per département', () => {
  it('applies a département vintage only to that département’s communes', async () => {
    const communes = writeCommunes(path.join(tmp, 'deps.gpkg'), [
      { code: '54001', geom: rect(0, 0, 100, 100) },
      { code: '57001', geom: rect(100, 0, 200, 100) },
    ]);
    const territories = await readTerritories({ path: communes });
    const stageDir = path.join(tmp, 'stage-deps');
    writeStage(stageDir, [
      { year: 2018, departement: '54', polygons: [{ geom: rect(0, 0, 200, 100), cs: 'CS2.1.1.1' }] },
      { year: 2019, departement: '57', polygons: [{ geom: rect(0, 0, 200, 100), cs: 'CS1.1.1.1' }] },
      { year: 2022, polygons: [{ geom: rect(0, 0, 200, 50), cs: 'CS1.1.1.1' }] },
    ]);
    const out = await overlayVintages({ stageDir, territories, jobs: 2, workDir: path.join(tmp, 'w-deps'), communesPerPartition: 1 });
    const rows = await queryPieces(
      out,
      `SELECT p.commune_code, round(p.area_m2, 6) AS area, string_agg(c.vintage || ':' || c.code_cs, ' ' ORDER BY c.vintage) AS classes
       FROM piece p JOIN piece_class c USING (piece_id) GROUP BY p.piece_id, p.commune_code, p.area_m2 ORDER BY 1, 3`,
    );
    expect(rows.map((r) => `${r.commune_code} ${r.area} ${r.classes}`)).toEqual([
      '54001 5000 2018:CS2.1.1.1',
      '54001 5000 2018:CS2.1.1.1 2022:CS1.1.1.1',
      '57001 5000 2019:CS1.1.1.1',
      '57001 5000 2019:CS1.1.1.1 2022:CS1.1.1.1',
    ]);
    expect(out.stats.partitions).toBe(2);
    expect(out.stats.vintages.map((v) => [v.key, v.covered_m2, v.uncovered_m2, v.outside_communes_m2])).toEqual([
      ['54-2018', 10_000, 0, 10_000],
      ['57-2019', 10_000, 0, 10_000],
      ['2022', 10_000, 10_000, 0],
    ]);
  });

  it('writes the parts of a worker whose first partition met no staged polygon', async () => {
    // One worker takes both partitions in order: the first commune has no data, so the worker knows no class yet.
    const communes = writeCommunes(path.join(tmp, 'gap.gpkg'), [
      { code: '54001', geom: rect(0, 0, 100, 100) },
      { code: '54002', geom: rect(5000, 0, 5100, 100) },
    ]);
    const territories = await readTerritories({ path: communes });
    const stageDir = path.join(tmp, 'stage-gap');
    writeStage(stageDir, [{ year: 2019, polygons: [{ geom: rect(5000, 0, 5100, 100), cs: 'CS1.1.1.1' }] }]);
    const out = await overlayVintages({ stageDir, territories, jobs: 1, workDir: path.join(tmp, 'w-gap'), communesPerPartition: 1 });
    const rows = await queryPieces(
      out,
      `SELECT p.commune_code, round(p.area_m2, 6) AS area, string_agg(c.vintage || ':' || c.code_cs, ' ') AS classes
       FROM piece p LEFT JOIN piece_class c USING (piece_id) GROUP BY p.piece_id, p.commune_code, p.area_m2 ORDER BY 1`,
    );
    expect(rows.map((r) => `${r.commune_code} ${r.area} ${r.classes}`)).toEqual(['54001 10000 null', '54002 10000 2019:CS1.1.1.1']);
    expect(out.stats.partitions).toBe(2);
  });
});


describe('normalised polygon hash', () => {
  it('ignores ring start, orientation, hole order and Z, not the shape', () => {
    const shell: Array<[number, number]> = [[0, 0], [10, 0], [10, 10], [0, 10]];
    const h1: Array<[number, number]> = [[1, 1], [2, 1], [2, 2]];
    const h2: Array<[number, number]> = [[5, 5], [6, 5], [6, 6]];
    const base = polygonHash(polygon(shell, h1, h2));
    expect(polygonHash(polygon([...shell].reverse(), h2, [...h1].reverse()))).toBe(base);
    expect(polygonHash(polygon([...shell.slice(2), ...shell.slice(0, 2)], h1, h2))).toBe(base);
    const ringZ = (ring: Array<[number, number]>): string => `(${[...ring, ring[0]!].map(([x, y]) => `${X0 + x} ${Y0 + y} 7`).join(', ')})`;
    const z = gdal.Geometry.fromWKT(`POLYGON Z (${[shell, h1, h2].map(ringZ).join(', ')})`) as gdal.Polygon;
    expect(polygonHash(z)).toBe(base);
    expect(polygonHash(polygon(shell, h1))).not.toBe(base);
    expect(polygonHash(rect(0, 0, 10, 11))).not.toBe(polygonHash(rect(0, 0, 10, 10)));
  });
});

describe('overlapping polygons within a vintage', () => {
  it('gives the shared area to the polygon first in file order, and keeps the commune area', async () => {
    const communes = writeCommunes(path.join(tmp, 'one.gpkg'), [{ code: '54001', geom: rect(0, 0, 100, 100) }]);
    const territories = await readTerritories({ path: communes });
    const stageDir = path.join(tmp, 'stage-overlap');
    writeStage(stageDir, [
      {
        year: 2010,
        polygons: [
          { geom: rect(0, 0, 60, 100), cs: 'CS1.1.1.1' },
          { geom: rect(40, 0, 100, 100), cs: 'CS2.1.1.1' },
        ],
      },
    ]);
    const out = await overlayVintages({ stageDir, territories, jobs: 1, workDir: path.join(tmp, 'w-overlap') });
    const rows = await queryPieces(
      out,
      'SELECT round(p.area_m2, 6) AS area, c.code_cs FROM piece p JOIN piece_class c USING (piece_id) ORDER BY c.code_cs',
    );
    // The FlatGeobuf spatial index reorders features: read which one the file holds first.
    const ds = gdal.open(path.join(stageDir, 'vintage-2010.fgb'));
    const first = String(ds.layers.get(0).features.first()!.fields.get('code_cs'));
    ds.close();
    expect(rows.find((r) => r.code_cs === first)!.area).toBe(6000);
    expect(rows.find((r) => r.code_cs !== first)!.area).toBe(4000);
    expect(out.stats.vintageOverlaps).toBe(1);
  });
});
