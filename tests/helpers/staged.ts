/**
 * Hand-built inputs for the territories and overlay tests: commune layers and staged vintages
 * (FlatGeobuf with spatial index, EPSG:2154, STAGED_FIELDS) written with gdal-async, plus the manifest.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import gdal from 'gdal-async';
import { STAGED_FIELDS, type StageManifest, type StagedVintage } from '../../pipeline/core/types.js';

/** Origin of the hand-built coordinates, inside metropolitan Lambert-93. */
export const X0 = 900_000;
export const Y0 = 6_800_000;

export type Ring = Array<[number, number]>;

/** Polygon from rings of coordinates relative to (X0, Y0). */
export function polygon(...rings: Ring[]): gdal.Polygon {
  const p = new gdal.Polygon();
  for (const coords of rings) {
    const ring = new gdal.LinearRing();
    for (const [x, y] of coords) ring.points.add(X0 + x, Y0 + y);
    ring.closeRings();
    p.rings.add(ring);
  }
  return p;
}

export function rect(x1: number, y1: number, x2: number, y2: number): gdal.Polygon {
  return polygon([
    [x1, y1],
    [x2, y1],
    [x2, y2],
    [x1, y2],
  ]);
}

const LAMBERT93 = gdal.SpatialReference.fromEPSG(2154);

/** A GeoPackage layer `communes` (code, nom) in EPSG:2154. */
export function writeCommunes(file: string, communes: Array<{ code: string; nom?: string; geom: gdal.Geometry }>): string {
  const ds = gdal.open(file, 'w', 'GPKG');
  const layer = ds.layers.create('communes', LAMBERT93, gdal.wkbMultiPolygon);
  layer.fields.add(new gdal.FieldDefn('code', gdal.OFTString));
  layer.fields.add(new gdal.FieldDefn('nom', gdal.OFTString));
  for (const c of communes) {
    const f = new gdal.Feature(layer);
    f.fields.set({ code: c.code, nom: c.nom ?? `Commune ${c.code}` });
    f.setGeometry(c.geom);
    layer.features.add(f);
  }
  ds.close();
  return file;
}

export interface StagedPolygon {
  geom: gdal.Polygon;
  /** Couverture code; the other classes follow from it (CS1.x artificialised and urban, else NAF). */
  cs: string;
  us?: string;
}

function classesOf(cs: string, us: string): Record<keyof typeof STAGED_FIELDS, string | number> {
  const artif = cs.startsWith('CS1.1') ? 1 : 0;
  const sealed = cs === 'CS1.1.1.1' || cs === 'CS1.1.1.2' ? 1 : 0;
  return {
    src_id: '',
    code_cs: cs,
    code_us: us,
    category: sealed ? (cs === 'CS1.1.1.1' ? 1 : 2) : artif ? 3 : 7,
    artif,
    artif_rule: 'matrix',
    sealed,
    enaf: artif ? 'urban' : 'naf',
    destination: artif ? 'habitat' : '',
    area_m2: 0,
  };
}

/** Writes `<stageDir>/vintage-<key>.fgb` for each vintage and the manifest. */
export function writeStage(
  stageDir: string,
  vintages: Array<{ year: number; departement?: string; polygons: StagedPolygon[] }>,
): StageManifest {
  mkdirSync(stageDir, { recursive: true });
  const staged: StagedVintage[] = vintages.map((v) => {
    const key = v.departement ? `${v.departement}-${v.year}` : String(v.year);
    const file = path.join(stageDir, `vintage-${key}.fgb`);
    const ds = gdal.open(file, 'w', 'FlatGeobuf');
    const layer = ds.layers.create(`vintage-${key}`, LAMBERT93, gdal.wkbPolygon, ['SPATIAL_INDEX=YES']);
    for (const [name, type] of Object.entries(STAGED_FIELDS)) {
      layer.fields.add(new gdal.FieldDefn(name, type === 'string' ? gdal.OFTString : type === 'integer' ? gdal.OFTInteger : gdal.OFTReal));
    }
    let area = 0;
    v.polygons.forEach((p, i) => {
      const f = new gdal.Feature(layer);
      f.fields.set({ ...classesOf(p.cs, p.us ?? (p.cs.startsWith('CS1') ? 'US5' : 'US1.1')), src_id: `${key}-${i}`, area_m2: p.geom.getArea() });
      f.setGeometry(p.geom);
      layer.features.add(f);
      area += p.geom.getArea();
    });
    ds.close();
    return {
      year: v.year,
      departement: v.departement ?? null,
      key,
      path: file,
      source: { path: 'hand-built', layer: key, sha256: '', crs: 'EPSG:2154' },
      features: v.polygons.length,
      areaM2: area,
      repairs: {},
      countsByCategory: {},
    };
  });
  const manifest: StageManifest = { crs: 'EPSG:2154', nomenclatureVersion: 'test', profile: 'test', vintages: staged };
  writeFileSync(path.join(stageDir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return manifest;
}
