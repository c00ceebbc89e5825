import path from 'node:path';
import gdal from 'gdal-async';
import { writeOcs, type TestFeature } from '../ingest-helpers.js';

/** Hand-built squares with known answers for the end-to-end runs (tests/run.test.ts, tests/run-vintage-years.test.ts). */

const X = 1_050_000;
const Y = 6_840_000;
const ring = (points: Array<[number, number]>): string => `(${[...points, points[0]!].map(([x, y]) => `${X + x} ${Y + y}`).join(',')})`;
const rect = (x0: number, y0: number, x1: number, y1: number): string => `POLYGON(${ring([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])})`;

/**
 * Two 1 km² communes side by side (67001 west, 67002 east, or the codes given). A 100 m × 200 m strip astride their
 * border (x 950–1050, y 400–600) is a field / forest in 2010, a building in 2019, and its western half a fallow
 * meadow without use (category 9) in 2022. `ocs` holds one layer per vintage (ocs_2010, ocs_2019, ocs_2022), `multi`
 * the same land use as one multi-date layer (ocs_multi: the four pieces, columns code_cs_<year>, code_us_<year>).
 */
export function handBuiltInputs(dir: string, [west, east]: [string, string] = ['67001', '67002']): { ocs: string; multi: string; communes: string } {
  const westNotched = `POLYGON(${ring([[0, 0], [1000, 0], [1000, 400], [950, 400], [950, 600], [1000, 600], [1000, 1000], [0, 1000]])})`;
  const eastNotched = `POLYGON(${ring([[1000, 0], [2000, 0], [2000, 1000], [1000, 1000], [1000, 600], [1050, 600], [1050, 400], [1000, 400]])})`;
  const v2010: TestFeature[] = [
    { id: 'W', cs: 'CS2.2.1', us: 'US1.1', wkt: rect(0, 0, 1000, 1000) },
    { id: 'E', cs: 'CS2.1.1.1', us: 'US1.2', wkt: rect(1000, 0, 2000, 1000) },
  ];
  const v2019: TestFeature[] = [
    { id: 'W', cs: 'CS2.2.1', us: 'US1.1', wkt: westNotched },
    { id: 'E', cs: 'CS2.1.1.1', us: 'US1.2', wkt: eastNotched },
    { id: 'B', cs: 'CS1.1.1.1', us: 'US5', wkt: rect(950, 400, 1050, 600) },
  ];
  const v2022: TestFeature[] = [
    { id: 'W', cs: 'CS2.2.1', us: 'US1.1', wkt: westNotched },
    { id: 'E', cs: 'CS2.1.1.1', us: 'US1.2', wkt: eastNotched },
    { id: 'M', cs: 'CS2.2.1', us: 'US6.3', wkt: rect(950, 400, 1000, 600) },
    { id: 'B', cs: 'CS1.1.1.1', us: 'US5', wkt: rect(1000, 400, 1050, 600) },
  ];
  const ocs = writeOcs(path.join(dir, 'ocs.gpkg'), { ocs_2010: v2010, ocs_2019: v2019, ocs_2022: v2022 });
  const codes: Record<string, Array<[string, string]>> = {
    westRest: [['CS2.2.1', 'US1.1'], ['CS2.2.1', 'US1.1'], ['CS2.2.1', 'US1.1']],
    eastRest: [['CS2.1.1.1', 'US1.2'], ['CS2.1.1.1', 'US1.2'], ['CS2.1.1.1', 'US1.2']],
    stripWest: [['CS2.2.1', 'US1.1'], ['CS1.1.1.1', 'US5'], ['CS2.2.1', 'US6.3']],
    stripEast: [['CS2.1.1.1', 'US1.2'], ['CS1.1.1.1', 'US5'], ['CS1.1.1.1', 'US5']],
  };
  const pieces: TestFeature[] = [
    { id: 'westRest', cs: null, us: null, wkt: westNotched },
    { id: 'eastRest', cs: null, us: null, wkt: eastNotched },
    { id: 'stripWest', cs: null, us: null, wkt: rect(950, 400, 1000, 600) },
    { id: 'stripEast', cs: null, us: null, wkt: rect(1000, 400, 1050, 600) },
  ];
  const columns = Object.fromEntries(
    [2010, 2019, 2022].flatMap((year, i) => [
      [`code_cs_${year}`, (f: TestFeature) => codes[f.id]![i]![0]],
      [`code_us_${year}`, (f: TestFeature) => codes[f.id]![i]![1]],
    ]),
  );
  const multi = writeOcs(path.join(dir, 'multi.gpkg'), { ocs_multi: pieces }, { extraFields: columns });

  const communes = path.join(dir, 'communes.gpkg');
  const dataset = gdal.drivers.get('GPKG').create(communes);
  const layer = dataset.layers.create('communes', gdal.SpatialReference.fromEPSG(2154), gdal.wkbPolygon);
  layer.fields.add(new gdal.FieldDefn('code', gdal.OFTString));
  layer.fields.add(new gdal.FieldDefn('nom', gdal.OFTString));
  for (const [code, nom, wkt] of [
    [west, 'Ouest', rect(0, 0, 1000, 1000)],
    [east, 'Est', rect(1000, 0, 2000, 1000)],
  ] as const) {
    const feature = new gdal.Feature(layer);
    feature.fields.set('code', code);
    feature.fields.set('nom', nom);
    feature.setGeometry(gdal.Geometry.fromWKT(wkt));
    layer.features.add(feature);
  }
  dataset.close();
  return { ocs, multi, communes };
}

export const round = (value: unknown): number => Math.round(Number(value) * 1000) / 1000;
