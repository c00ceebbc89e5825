/**
 * Overlay on real commune boundaries (Meurthe-et-Moselle, around Nancy) with staged grids whose
 * tiling changes between vintages: area conservation, agreement with a brute-force oracle, and
 * byte-identical output whatever the number of jobs and partitions.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import gdal from 'gdal-async';
import { areaOf } from '../pipeline/core/polygons.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../fixtures/generator/prng.js';
import { overlayVintages, type OverlayOutput } from '../pipeline/overlay/index.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { readTerritories, territoryGeometries, type Territories } from '../pipeline/territories/index.js';
import { type StagedPolygon, writeStage, X0, Y0, rect } from './helpers/staged.js';
import { artificialisedArea, queryPieces } from './helpers/pieces.js';

const COMMUNES_54 = path.join(PROJECT_ROOT, '..', 'shared', 'data', 'communes-grand-est-2018', 'communes-54-meurthe-et-moselle.geojson');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ocs-overlay-real-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Communes whose lon/lat box meets a small box around Nancy. */
function communesAroundNancy(): Set<string> {
  const ds = gdal.open(COMMUNES_54);
  const codes = new Set<string>();
  for (const f of ds.layers.get(0).features) {
    const e = f.getGeometry()!.getEnvelope();
    if (e.maxX > 6.15 && e.minX < 6.21 && e.maxY > 48.67 && e.minY < 48.71) codes.add(String(f.fields.get('code')));
  }
  ds.close();
  return codes;
}

interface Grid {
  polygons: StagedPolygon[];
}

/** Cells of `size` m over [x1,x2)×[y1,y2) (absolute Lambert-93), classes drawn by `pick`. */
function grid(x1: number, y1: number, x2: number, y2: number, size: number, pick: (x: number, y: number) => string | null): Grid {
  const polygons: StagedPolygon[] = [];
  for (let x = x1; x < x2; x += size) {
    for (let y = y1; y < y2; y += size) {
      const cs = pick(x, y);
      if (cs) polygons.push({ geom: rect(x - X0, y - Y0, x + size - X0, y + size - Y0), cs });
    }
  }
  return { polygons };
}

const ARTIF = new Set(['CS1.1.1.1', 'CS1.1.1.2', 'CS1.1.2.1']);

describe('real communes around Nancy', () => {
  let territories: Territories;
  let vintages: Array<{ year: number; polygons: StagedPolygon[] }>;
  let out1: OverlayOutput;
  let out2: OverlayOutput;
  const stageDir = path.join(tmp, 'stage');

  beforeAll(async () => {
    const wanted = communesAroundNancy();
    territories = await readTerritories({ path: COMMUNES_54, communeFilter: (code) => wanted.has(code) });
    const box = { minX: Infinity, minY: Infinity, maxX: -Infinity, maxY: -Infinity };
    for (const c of territories.communes) {
      const e = gdal.Geometry.fromWKB(c.geomWkb).getEnvelope();
      box.minX = Math.min(box.minX, e.minX);
      box.minY = Math.min(box.minY, e.minY);
      box.maxX = Math.max(box.maxX, e.maxX);
      box.maxY = Math.max(box.maxY, e.maxY);
    }
    // Grids aligned on 1200 m so that the 600 m and 400 m tilings meet exactly at the split line.
    const x1 = Math.floor(box.minX / 1200) * 1200;
    const y1 = Math.floor(box.minY / 1200) * 1200;
    const x2 = Math.ceil(box.maxX / 1200) * 1200;
    const y2 = Math.ceil(box.maxY / 1200) * 1200;
    const split = Math.round((x1 + x2) / 2400) * 1200;
    const rng = mulberry32(54);
    const t0 = new Map<string, string>();
    const v2010 = grid(x1, y1, x2, y2, 600, (x, y) => {
      const r = rng();
      const cs = r < 0.04 ? null : r < 0.3 ? 'CS1.1.1.1' : r < 0.4 ? 'CS2.2.1' : 'CS2.1.1.1';
      if (cs) t0.set(`${x},${y}`, cs);
      return cs;
    });
    const west = grid(x1, y1, split, y2, 600, (x, y) => {
      const before = t0.get(`${x},${y}`) ?? 'CS2.1.1.1';
      return rng() < 0.15 ? 'CS1.1.2.1' : before;
    });
    const east = grid(split, y1, x2, y2, 400, () => (rng() < 0.35 ? 'CS1.1.1.1' : 'CS2.1.1.1'));
    vintages = [
      { year: 2010, polygons: v2010.polygons },
      { year: 2019, polygons: [...west.polygons, ...east.polygons] },
    ];
    writeStage(stageDir, vintages);
    out1 = await overlayVintages({ stageDir, territories, jobs: 1, workDir: path.join(tmp, 'w1'), communesPerPartition: 3 });
    out2 = await overlayVintages({ stageDir, territories, jobs: 2, workDir: path.join(tmp, 'w2'), communesPerPartition: 5 });
  });

  it('selects a handful of communes', () => {
    expect(territories.communes.length).toBeGreaterThanOrEqual(6);
    expect(out1.stats.partitions).toBeGreaterThan(1);
  });

  it('cuts each commune into pieces that sum to its area', async () => {
    const rows = await queryPieces(out1, 'SELECT commune_code, sum(area_m2) AS area FROM piece GROUP BY 1 ORDER BY 1');
    expect(rows.map((r) => r.commune_code)).toEqual(territories.communes.map((c) => c.code));
    for (const c of territories.communes) {
      const area = rows.find((r) => r.commune_code === c.code)!.area as number;
      expect(Math.abs(area - c.area_m2) / c.area_m2).toBeLessThan(1e-6);
    }
  });

  it("classifies, per vintage, exactly the staged area lying inside the communes", async () => {
    const union = gdal.Geometry.fromWKB(territoryGeometries(territories).find((g) => g.level === 'departement')!.geomWkb);
    const classified = await queryPieces(out1, 'SELECT vintage, sum(area_m2) AS area FROM piece JOIN piece_class USING (piece_id) GROUP BY 1 ORDER BY 1');
    for (const [k, v] of vintages.entries()) {
      let inside = 0;
      let total = 0;
      for (const p of v.polygons) {
        total += p.geom.getArea();
        inside += areaOf(p.geom.intersection(union));
      }
      const area = classified[k]!.area as number;
      expect(classified[k]!.vintage).toBe(v.year);
      expect(Math.abs(area - inside) / inside).toBeLessThan(1e-6);
      expect(Math.abs(out1.stats.vintages[k]!.covered_m2 - inside) / inside).toBeLessThan(1e-6);
      expect(out1.stats.vintages[k]!.outside_communes_m2).toBeCloseTo(total - inside, 0);
    }
    expect(out1.stats.fastPath.identicalGeometry).toBeGreaterThan(20);
  });

  it('agrees with a brute-force oracle on artificialisation 2010 → 2019 (no index, no fast path)', async () => {
    const [t0, t1] = vintages;
    for (const c of territories.communes.slice(0, 3)) {
      const commune = gdal.Geometry.fromWKB(c.geomWkb);
      const ce = commune.getEnvelope();
      const meets = (e: gdal.Envelope, f: gdal.Envelope): boolean => e.minX <= f.maxX && f.minX <= e.maxX && e.minY <= f.maxY && f.minY <= e.maxY;
      let brute = 0;
      for (const a of t0!.polygons) {
        const ae = a.geom.getEnvelope();
        if (ARTIF.has(a.cs) || !meets(ae, ce)) continue;
        for (const b of t1!.polygons) {
          // Plain box comparison to spare GEOS calls on far-apart pairs: still every pair, no index.
          if (!ARTIF.has(b.cs) || !meets(ae, b.geom.getEnvelope())) continue;
          const ab = a.geom.intersection(b.geom);
          if (ab.isEmpty()) continue;
          brute += areaOf(ab.intersection(commune));
        }
      }
      const area = await artificialisedArea(out1, c.code, 2010, 2019);
      expect(brute).toBeGreaterThan(0);
      expect(Math.abs(area - brute) / brute).toBeLessThan(1e-3);
    }
  });

  it('writes byte-identical Parquet whatever the jobs and partitions', () => {
    expect(readFileSync(out2.pieceParquet).equals(readFileSync(out1.pieceParquet))).toBe(true);
    expect(readFileSync(out2.pieceClassParquet).equals(readFileSync(out1.pieceClassParquet))).toBe(true);
    expect(out2.stats.pieces).toBe(out1.stats.pieces);
  });
});
