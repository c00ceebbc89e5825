/**
 * Overlay on the committed demo fixture (fixtures/data/demo.gpkg, three OCS GE vintages, 12 communes),
 * staged by the real ingest stage: area conservation, per-vintage classified area, and a brute-force
 * oracle on two communes read straight from the staged FlatGeobuf files.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import gdal from 'gdal-async';
import { areaOf } from '../pipeline/core/polygons.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestVintages, parseVintageSpec } from '../pipeline/ingest/index.js';
import { overlayVintages, type OverlayOutput } from '../pipeline/overlay/index.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { readTerritories, type Territories } from '../pipeline/territories/index.js';
import type { StageManifest } from '../pipeline/core/types.js';
import { artificialisedArea, queryPieces } from './helpers/pieces.js';

const DEMO = path.join(PROJECT_ROOT, 'fixtures', 'data', 'demo.gpkg');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ocs-overlay-demo-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Staged polygons of one vintage meeting a box: geometry and artificialised flag. */
function readStaged(file: string, box: gdal.Envelope): Array<{ geom: gdal.Geometry; artif: boolean }> {
  const ds = gdal.open(file);
  const layer = ds.layers.get(0);
  layer.setSpatialFilter(box.minX, box.minY, box.maxX, box.maxY);
  const out = [...layer.features].map((f) => ({ geom: f.getGeometry()!, artif: f.fields.get('artif') === 1 }));
  ds.close();
  return out;
}

describe('demo fixture', () => {
  let territories: Territories;
  let manifest: StageManifest;
  let out: OverlayOutput;
  const stageDir = path.join(tmp, 'stage');

  beforeAll(async () => {
    manifest = await ingestVintages(['2010', '2019', '2022'].map((y) => parseVintageSpec(`${y}=${DEMO}#ocsge_${y}`)), { stageDir });
    territories = await readTerritories({ path: `${DEMO}#communes` });
    out = await overlayVintages({ stageDir, territories, jobs: 2, workDir: path.join(tmp, 'work'), communesPerPartition: 4 });
    const s = out.stats;
    console.info(
      `overlay demo: ${s.stagedPolygons} staged polygons (${s.polygonsRead} read) → ${s.pieces} pieces in ${s.seconds.toFixed(1)} s ` +
        `(${Math.round(s.polygonsPerSecond)} polygons/s, ${s.intersections} intersections, fast paths ${JSON.stringify(s.fastPath)})`,
    );
  });

  it('cuts each commune into pieces summing to its area', async () => {
    const rows = await queryPieces(out, 'SELECT commune_code, sum(area_m2) AS area FROM piece GROUP BY 1 ORDER BY 1');
    expect(rows.length).toBe(territories.communes.length);
    for (const c of territories.communes) {
      const area = rows.find((r) => r.commune_code === c.code)!.area as number;
      expect(Math.abs(area - c.area_m2) / c.area_m2).toBeLessThan(1e-6);
    }
  });

  it('classifies each vintage’s staged area inside the communes', async () => {
    const rows = await queryPieces(out, 'SELECT vintage, sum(area_m2) AS area FROM piece JOIN piece_class USING (piece_id) GROUP BY 1 ORDER BY 1');
    expect(rows.map((r) => r.vintage)).toEqual([2010, 2019, 2022]);
    for (const [k, v] of [...manifest.vintages].sort((a, b) => a.year - b.year).entries()) {
      const stats = out.stats.vintages[k]!;
      expect(Math.abs((rows[k]!.area as number) - stats.covered_m2) / stats.covered_m2).toBeLessThan(1e-9);
      expect(Math.abs(stats.covered_m2 + stats.outside_communes_m2 - v.areaM2) / v.areaM2).toBeLessThan(1e-6);
    }
  });

  it('agrees with a brute-force oracle on artificialisation 2010 → 2019 for two communes', async () => {
    const [t0, t1] = [...manifest.vintages].sort((a, b) => a.year - b.year);
    for (const c of territories.communes.slice(0, 2)) {
      const commune = gdal.Geometry.fromWKB(c.geomWkb);
      const box = commune.getEnvelope();
      const before = readStaged(path.resolve(stageDir, t0!.path), box).filter((p) => !p.artif);
      const after = readStaged(path.resolve(stageDir, t1!.path), box).filter((p) => p.artif);
      const meets = (e: gdal.Envelope, f: gdal.Envelope): boolean => e.minX <= f.maxX && f.minX <= e.maxX && e.minY <= f.maxY && f.minY <= e.maxY;
      let brute = 0;
      for (const a of before) {
        const ae = a.geom.getEnvelope();
        for (const b of after) {
          // Every pair, no index nor fast path; a plain box comparison spares GEOS calls on far-apart pairs.
          if (!meets(ae, b.geom.getEnvelope())) continue;
          const ab = a.geom.intersection(b.geom);
          if (!ab.isEmpty()) brute += areaOf(ab.intersection(commune));
        }
      }
      const area = await artificialisedArea(out, c.code, 2010, 2019);
      expect(brute).toBeGreaterThan(0);
      expect(Math.abs(area - brute) / brute).toBeLessThan(1e-3);
    }
  });
});
