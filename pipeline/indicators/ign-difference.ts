/**
 * IGN's difference layers cut by our communes, for `check_ign_difference` (sql/18_check_ign_difference.sql):
 * per commune of the layer's département, the area of its DIFF polygons (`cs_us_change`) or of its `zan_evol`
 * polygons with `artificialisation` = 1 (`artificialisation`) and −1 (`desartificialisation`). Communes
 * without any such polygon get 0, so that a change we see and IGN does not still shows.
 *
 * @example
 *   const rows = ignAreasByCommune(checks, territories.communes);
 *   await loadIgnAreas(connection, rows); // TEMP TABLE _ign_commune
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import gdal from 'gdal-async';
import { UserError } from '../core/errors.js';
import type { IgnDifferenceSource } from '../core/types.js';
import { LAMBERT93, openDataset, unreadable } from '../core/datasets.js';
import { appendRows } from '../core/duckdb.js';

export type IgnMeasure = 'artificialisation' | 'desartificialisation' | 'cs_us_change';

export interface IgnCommuneArea {
  commune_code: string;
  from_vintage: number;
  to_vintage: number;
  measure: IgnMeasure;
  ign_m2: number;
}

const MEASURES: Record<IgnDifferenceSource['product'], IgnMeasure[]> = {
  diff: ['cs_us_change'],
  zan_evol: ['artificialisation', 'desartificialisation'],
};

/** The `artificialisation` field, any case, or its 10-character Shapefile cut `ARTIFICIAL`. */
function artificialisationField(layer: gdal.Layer): string | null {
  return layer.fields.getNames().find((name) => /^artificial(isation)?$/i.test(name)) ?? null;
}

/** IGN area per commune, measure and period; communes are the cleaned partition of the territories stage. */
export function ignAreasByCommune(
  sources: readonly IgnDifferenceSource[],
  communes: ReadonlyArray<{ code: string; departement: string; geomWkb: Uint8Array }>,
): IgnCommuneArea[] {
  const rows: IgnCommuneArea[] = [];
  for (const source of sources) {
    const members = communes
      .filter((c) => c.departement === source.departement)
      .map((c) => {
        const geometry = gdal.Geometry.fromWKB(Buffer.from(c.geomWkb));
        return { code: c.code, geometry, envelope: geometry.getEnvelope() };
      });
    const areas = new Map<string, number>();
    const where = { file: source.origin, layer: source.layer };
    const dataset = openDataset(source.path);
    try {
      const layer = dataset.layers.get(source.layer);
      const signField = source.product === 'zan_evol' ? artificialisationField(layer) : null;
      if (source.product === 'zan_evol' && signField === null) {
        throw new UserError('no artificialisation field in the zan_evol layer', { ...where, remedy: 'the delivery is incomplete: download it again from IGN' });
      }
      const transform = layer.srs && !layer.srs.isSame(LAMBERT93) ? new gdal.CoordinateTransformation(layer.srs, LAMBERT93) : null;
      for (const feature of layer.features) {
        let measure: IgnMeasure = 'cs_us_change';
        if (signField !== null) {
          const sign = Number(feature.fields.get(signField));
          if (sign !== 1 && sign !== -1) {
            throw new UserError(`artificialisation is ${String(feature.fields.get(signField))}, expected 1 or -1`, { ...where, feature: feature.fid });
          }
          measure = sign === 1 ? 'artificialisation' : 'desartificialisation';
        }
        const geometry = feature.getGeometry();
        if (!geometry || geometry.isEmpty()) continue;
        if (transform) geometry.transform(transform);
        const valid = geometry.isValid() ? geometry : geometry.makeValid();
        const envelope = valid.getEnvelope();
        for (const commune of members) {
          if (!commune.envelope.intersects(envelope)) continue;
          const area = polygonalArea(valid.intersection(commune.geometry));
          if (area > 0) areas.set(`${commune.code}|${measure}`, (areas.get(`${commune.code}|${measure}`) ?? 0) + area);
        }
      }
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw unreadable(source.origin, error, source.layer);
    } finally {
      dataset.close();
    }
    for (const commune of members) {
      for (const measure of MEASURES[source.product]) {
        rows.push({ commune_code: commune.code, from_vintage: source.fromYear, to_vintage: source.toYear, measure, ign_m2: areas.get(`${commune.code}|${measure}`) ?? 0 });
      }
    }
  }
  return rows;
}

/** Area of the polygonal parts of a GEOS result (shared edges and points have none). */
function polygonalArea(geometry: gdal.Geometry): number {
  if (geometry instanceof gdal.Polygon || geometry instanceof gdal.MultiPolygon) return geometry.getArea();
  if (geometry instanceof gdal.GeometryCollection) {
    let area = 0;
    for (const child of geometry.children) area += polygonalArea(child);
    return area;
  }
  return 0;
}

/** Loads the rows into TEMP TABLE `_ign_commune`, read (and dropped) by sql/18_check_ign_difference.sql. */
export async function loadIgnAreas(connection: DuckDBConnection, rows: readonly IgnCommuneArea[]): Promise<void> {
  await connection.run(`CREATE OR REPLACE TEMP TABLE _ign_commune (commune_code VARCHAR, from_vintage INTEGER, to_vintage INTEGER, measure VARCHAR, ign_m2 DOUBLE)`);
  await appendRows(connection, '_ign_commune', rows.map((r) => [r.commune_code, r.from_vintage, r.to_vintage, r.measure, r.ign_m2]));
}
