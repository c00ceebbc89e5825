import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import gdal from 'gdal-async';

/** A hand-built OCS feature: WKT in Lambert-93 (or `null` for no geometry). */
export interface TestFeature {
  id: string;
  cs: string | null;
  us: string | null;
  wkt: string | null;
}

const X = 1_050_000;
const Y = 6_840_000;
const square = (x: number, y: number, size: number): string =>
  `(${X + x} ${Y + y},${X + x + size} ${Y + y},${X + x + size} ${Y + y + size},${X + x} ${Y + y + size},${X + x} ${Y + y})`;

/** Five polygons near Strasbourg covering the cases ingest must handle; `year` varies one code. */
export function ocsFeatures(year: number): TestFeature[] {
  return [
    { id: 'A1', cs: 'CS1.1.1.1', us: 'US5', wkt: `POLYGON(${square(0, 0, 100)})` },
    { id: 'A2', cs: year >= 2019 ? 'CS1.1.1.1' : 'CS2.2.1', us: year >= 2019 ? 'US2' : 'US1.1', wkt: `POLYGON(${square(200, 0, 200)})` },
    { id: 'A3', cs: 'CS2.1.1.1', us: 'US1.2', wkt: `MULTIPOLYGON((${square(0, 500, 50)}),(${square(100, 500, 150)}))` },
    // A bow-tie: invalid, make-valid splits it into two triangles.
    { id: 'A4', cs: 'CS1.1.1.2', us: 'US4.1.1', wkt: `POLYGON((${X} ${Y + 1000},${X + 100} ${Y + 1100},${X + 100} ${Y + 1000},${X} ${Y + 1100},${X} ${Y + 1000}))` },
    { id: 'A5', cs: 'CS2.2.1', us: 'US5', wkt: null },
    { id: 'A6', cs: 'CS2.2.1', us: 'US1.1', wkt: `POLYGON(${square(1000, 1000, 300)})` },
  ];
}

export function tempDir(prefix = 'ocs-zan-ingest-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

/** Writes layers of features (fields ID, CODE_CS, CODE_US) into one dataset of the given driver. */
export function writeOcs(
  file: string,
  layers: Record<string, TestFeature[]>,
  options: { driver?: string; srs?: gdal.SpatialReference | null; extraFields?: Record<string, (f: TestFeature) => string> } = {},
): string {
  const dataset = gdal.drivers.get(options.driver ?? 'GPKG').create(file);
  const srs = options.srs === undefined ? gdal.SpatialReference.fromEPSG(2154) : options.srs;
  for (const [name, features] of Object.entries(layers)) {
    const layer = dataset.layers.create(name, srs, gdal.wkbMultiPolygon);
    for (const field of ['ID', 'CODE_CS', 'CODE_US', ...Object.keys(options.extraFields ?? {})]) layer.fields.add(new gdal.FieldDefn(field, gdal.OFTString));
    for (const f of features) {
      const feature = new gdal.Feature(layer);
      feature.fields.set('ID', f.id);
      if (f.cs !== null) feature.fields.set('CODE_CS', f.cs);
      if (f.us !== null) feature.fields.set('CODE_US', f.us);
      for (const [field, value] of Object.entries(options.extraFields ?? {})) feature.fields.set(field, value(f));
      // OCS GE deliveries are MultiPolygon layers.
      if (f.wkt) feature.setGeometry(gdal.Geometry.fromWKT(f.wkt.startsWith('POLYGON') ? `MULTIPOLYGON(${f.wkt.slice('POLYGON'.length)})` : f.wkt));
      layer.features.add(feature);
    }
  }
  dataset.close();
  return file;
}

export function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

/** Canonical dump of a staged FlatGeobuf: every feature's fields and WKT (6 decimals) or envelope, in file order. */
export function dumpFgb(file: string, options: { geometry?: 'wkt' | 'envelope' } = {}): string {
  const dataset = gdal.open(file);
  const layer = dataset.layers.get(0);
  const lines = [`srs=${layer.srs?.getAuthorityCode(null)} type=${layer.geomType} fields=${layer.fields.getNames().join(',')}`];
  for (let f = layer.features.first(); f; f = layer.features.next()) {
    const fields = f.fields.toObject() as Record<string, unknown>;
    const shape = f.getGeometry()!; // staged features always carry a polygon
    const envelope = (): string => Object.values(shape.getEnvelope()).map((n: number) => n.toFixed(6)).join(' ');
    const geometry = options.geometry === 'envelope' ? envelope() : shape.toWKT().replace(/-?\d+\.\d+/g, (n) => Number(n).toFixed(6));
    lines.push(`${JSON.stringify({ ...fields, area_m2: Number((fields['area_m2'] as number).toFixed(4)) })} ${geometry}`);
  }
  dataset.close();
  return lines.join('\n');
}
