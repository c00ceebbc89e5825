import path from 'node:path';
import gdal from 'gdal-async';
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { FlatGeobufReader, polygonWkb, type Box, type ColumnMask, type StagedPolygon } from '../pipeline/core/flatgeobuf.js';
import { FeatureList, hilbertOrder, writeSortedFlatGeobuf } from '../pipeline/core/flatgeobuf-writer.js';
import { FeatureEncoder, UnsortedFlatGeobufWriter, type ScalarType } from '../pipeline/core/flatgeobuf-encoder.js';
import { tempDir } from './ingest-helpers.js';

const dir = tempDir('ocs-zan-fgb-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const X = 1_050_000;
const Y = 6_840_000;
const ring = (x: number, y: number, size: number): string =>
  `(${X + x} ${Y + y},${X + x + size} ${Y + y},${X + x + size} ${Y + y + size},${X + x} ${Y + y + size},${X + x} ${Y + y})`;

/** A staged-like FlatGeobuf written by GDAL (as the ingest writes it): polygons, some with holes, scalar fields. */
function writeFgb(name: string, count: number, spatialIndex: 'YES' | 'NO' = 'YES'): string {
  const file = path.join(dir, name);
  const dataset = gdal.drivers.get('FlatGeobuf').create(file);
  const layer = dataset.layers.create('staged', gdal.SpatialReference.fromEPSG(2154), gdal.wkbPolygon, [`SPATIAL_INDEX=${spatialIndex}`]);
  layer.fields.add(new gdal.FieldDefn('code', gdal.OFTString));
  layer.fields.add(new gdal.FieldDefn('category', gdal.OFTInteger));
  layer.fields.add(new gdal.FieldDefn('area_m2', gdal.OFTReal));
  layer.fields.add(new gdal.FieldDefn('destination', gdal.OFTString));
  const side = Math.ceil(Math.sqrt(count));
  for (let n = 0; n < count; n++) {
    const [x, y] = [(n % side) * 30, Math.floor(n / side) * 30];
    const feature = new gdal.Feature(layer);
    feature.fields.set('code', `CS${n % 7}é`);
    feature.fields.set('category', n % 11);
    feature.fields.set('area_m2', n + 0.25);
    if (n % 3 === 0) feature.fields.set('destination', 'habitat');
    feature.setGeometry(gdal.Geometry.fromWKT(n % 4 === 0 ? `POLYGON(${ring(x, y, 20)},${ring(x + 5, y + 5, 3)},${ring(x + 12, y + 12, 4)})` : `POLYGON(${ring(x, y, 10 + (n % 5))})`));
    layer.features.add(feature);
  }
  dataset.close();
  return file;
}

/** Every polygon of an indexed file, in file order, decoded as the overlay reads them. */
function allPolygons(reader: FlatGeobufReader, columns: ColumnMask | null = null): StagedPolygon[] {
  return reader.read(reader.search({ minX: -Infinity, minY: -Infinity, maxX: Infinity, maxY: Infinity }), columns);
}

/** Each feature as GDAL reads it: FID, little-endian WKB, the big-endian WKB of toWKB()'s default, fields. */
function gdalFeatures(file: string): Array<{ fid: number; wkb: Buffer; wkbBig: Buffer; fields: Record<string, unknown>; box: Box }> {
  const dataset = gdal.open(file);
  const out = dataset.layers.get(0).features.map((f) => {
    const geometry = f.getGeometry()!;
    const { minX, minY, maxX, maxY } = geometry.getEnvelope();
    return { fid: f.fid, wkb: geometry.toWKB(gdal.wkbNDR), wkbBig: geometry.toWKB(), fields: f.fields.toObject(), box: { minX, minY, maxX, maxY } };
  });
  dataset.close();
  return out;
}

const meets = (a: Box, b: Box): boolean => !(a.maxX < b.minX || a.maxY < b.minY || a.minX > b.maxX || a.minY > b.maxY);

describe('FlatGeobufReader (staged files read without GDAL)', () => {
  // 1 feature: a root above one leaf; 300 features: three levels above the leaves.
  for (const count of [1, 300]) {
    it(`decodes the same polygons, boxes and fields as GDAL, in file order (${count} features)`, () => {
      const file = writeFgb(`features-${count}.fgb`, count);
      const expected = gdalFeatures(file);
      const reader = FlatGeobufReader.open(file);
      try {
        expect(reader.count).toBe(count);
        const extent = gdal.open(file).layers.get(0).getExtent();
        expect(reader.extent).toEqual({ minX: extent.minX, minY: extent.minY, maxX: extent.maxX, maxY: extent.maxY });
        const mine = allPolygons(reader);
        expect(mine.map((f) => f.index)).toEqual(expected.map((f) => f.fid));
        mine.forEach((f, k) => {
          expect(polygonWkb(f.rings).equals(expected[k]!.wkb)).toBe(true);
          // The overlay writes a piece kept whole from its rings: the bytes GDAL would have given.
          expect(polygonWkb(f.rings, 'big').equals(expected[k]!.wkbBig)).toBe(true);
          expect(f.box).toEqual(expected[k]!.box);
          const fields = Object.fromEntries(reader.columns.map((column, c) => [column.name, f.properties[c]]));
          expect(fields).toEqual(expected[k]!.fields);
        });
        // A polygon read again from its offset is the same.
        const last = mine[mine.length - 1]!;
        expect(reader.read([{ index: last.index, offset: last.offset }])[0]).toEqual(last);
      } finally {
        reader.close();
      }
    });
  }

  it('finds every polygon whose box meets a search box (edges included), and reads them', () => {
    const file = writeFgb('search.fgb', 300);
    const expected = gdalFeatures(file);
    const reader = FlatGeobufReader.open(file);
    try {
      const boxes: Box[] = [
        { minX: X + 100, minY: Y + 100, maxX: X + 250, maxY: Y + 180 },
        // Touching features' edges only.
        { minX: X + 60 + 20, minY: Y, maxX: X + 89.5, maxY: Y + 5 },
        { minX: X - 1000, minY: Y - 1000, maxX: X - 10, maxY: Y - 10 },
        reader.extent,
      ];
      for (const box of boxes) {
        const hits = reader.search(box);
        expect(hits.map((h) => h.index)).toEqual(expected.filter((f) => meets(f.box, box)).map((f) => f.fid));
        expect(reader.read(hits).map((f) => polygonWkb(f.rings))).toEqual(hits.map((h) => expected[h.index]!.wkb));
      }
    } finally {
      reader.close();
    }
  });

  it('decodes only the columns asked for, the others left null, with the same polygons', () => {
    const file = writeFgb('columns.fgb', 300);
    const reader = FlatGeobufReader.open(file);
    try {
      const all = allPolygons(reader);
      const [code, category, area, destination] = ['code', 'category', 'area_m2', 'destination'].map((name) => reader.columnIndex(name)) as [number, number, number, number];
      const some = allPolygons(reader, reader.columnMask(['area_m2', 'destination']));
      expect(some.map((f) => f.properties)).toEqual(all.map((f) => [null, null, f.properties[area], f.properties[destination]]));
      expect(some.map((f) => f.rings)).toEqual(all.map((f) => f.rings));
      expect([...reader.featureBoxes(reader.columnMask(['area_m2', 'destination']))]).toEqual(some.map(({ rings: _rings, ...rest }) => rest));
      const hits = reader.search(reader.extent).slice(0, 40);
      expect(reader.read(hits, reader.columnMask(['code'])).map((f) => f.properties)).toEqual(hits.map((h) => [all[h.index]!.properties[code], null, null, null]));
      expect(reader.read(hits, reader.columnMask([])).every((f) => f.properties.every((value) => value === null))).toBe(true);
      expect(all.some((f) => f.properties[category] !== null)).toBe(true);
    } finally {
      reader.close();
    }
  });

  it('reads columns as keys (readKeyed): equal keys for equal values, decoded back to what read gives', () => {
    const file = writeFgb('keyed.fgb', 300);
    const reader = FlatGeobufReader.open(file);
    try {
      const hits = reader.search(reader.extent);
      // code and category cycle (7 × 11 combinations), destination is set on every third feature: some columns unset.
      for (const names of [['code', 'category'], ['category', 'destination'], ['code', 'area_m2'], []]) {
        const mask = reader.columnMask(names);
        const read = reader.read(hits, mask);
        const keyed = reader.readKeyed(hits, mask);
        expect(keyed.map(({ key: _key, ...rest }) => rest)).toEqual(read.map(({ properties: _properties, ...rest }) => rest));
        expect(keyed.map((f) => reader.valuesOfKey(f.key))).toEqual(read.map((f) => f.properties));
        const valuesByKey = new Map(keyed.map((f, i) => [f.key, JSON.stringify(read[i]!.properties)]));
        expect(new Set(valuesByKey.values()).size).toBe(valuesByKey.size);
      }
      const classes = new Set(reader.readKeyed(hits, reader.columnMask(['code', 'category'])).map((f) => f.key));
      expect(classes.size).toBe(77);
    } finally {
      reader.close();
    }
  });

  it('reads the same from memory (inMemory) as from the file: features, searches, reads and raw bytes', () => {
    const file = writeFgb('in-memory.fgb', 300);
    const fromFile = FlatGeobufReader.open(file);
    const inMemory = FlatGeobufReader.open(file, { inMemory: true });
    try {
      expect(allPolygons(inMemory)).toEqual(allPolygons(fromFile));
      expect([...inMemory.featureBoxes()]).toEqual([...fromFile.featureBoxes()]);
      const box = { minX: X + 100, minY: Y + 100, maxX: X + 250, maxY: Y + 180 };
      const hits = inMemory.search(box);
      expect(hits).toEqual(fromFile.search(box));
      expect(inMemory.read(hits, inMemory.columnMask(['code']))).toEqual(fromFile.read(hits, fromFile.columnMask(['code'])));
      for (const f of allPolygons(fromFile).slice(0, 20)) {
        const [a, b] = [Buffer.alloc(f.bytes + 3), Buffer.alloc(f.bytes + 3)];
        fromFile.rawFeature(f.offset, f.bytes, a, 3);
        inMemory.rawFeature(f.offset, f.bytes, b, 3);
        expect(b.equals(a)).toBe(true);
      }
    } finally {
      fromFile.close();
      inMemory.close();
    }
  });

  it('reads an empty layer', () => {
    const file = writeFgb('empty.fgb', 0);
    const reader = FlatGeobufReader.open(file);
    try {
      expect(reader.count).toBe(0);
      expect(allPolygons(reader)).toEqual([]);
      expect([...reader.featureBoxes()]).toEqual([]);
      expect(reader.search({ minX: -Infinity, minY: -Infinity, maxX: Infinity, maxY: Infinity })).toEqual([]);
    } finally {
      reader.close();
    }
  });

  it('refuses a file that is not FlatGeobuf', () => {
    const file = path.join(dir, 'not.fgb');
    gdal.drivers.get('GeoJSON').create(file).close();
    expect(() => FlatGeobufReader.open(file)).toThrow(/not a FlatGeobuf file/);
  });
});

describe('writeSortedFlatGeobuf (the staged file sorted and indexed without GDAL)', () => {
  /** The bytes after the magic bytes and the header, which differs only in how its fields are laid out. */
  const afterHeader = (file: string): Buffer => {
    const bytes = readFileSync(file);
    return bytes.subarray(12 + bytes.readUInt32LE(8));
  };

  for (const count of [1, 300]) {
    it(`gives GDAL's index and features from GDAL's unindexed file, and GDAL reads it back (${count} features)`, () => {
      const byGdal = writeFgb(`gdal-indexed-${count}.fgb`, count, 'YES');
      const unsorted = writeFgb(`unsorted-${count}.fgb`, count, 'NO');
      const mine = path.join(dir, `sorted-${count}.fgb`);
      const reader = FlatGeobufReader.open(unsorted);
      try {
        expect(reader.indexed).toBe(false);
        const features = [...reader.featureBoxes()];
        if (count > 1) {
          // GDAL wrote them in the order given, row by row, not along the curve: the writer sorts them.
          expect(features.map((f) => f.box)).not.toEqual(gdalFeatures(byGdal).map((f) => f.box));
          expect(() => reader.search(reader.extent)).toThrow(/no spatial index/);
        }
        const list = new FeatureList();
        for (const f of features) list.add(reader, f.box, f.offset, f.bytes);
        writeSortedFlatGeobuf(mine, reader, list);
      } finally {
        reader.close();
      }
      expect(afterHeader(mine).equals(afterHeader(byGdal))).toBe(true);
      expect(gdalFeatures(mine)).toEqual(gdalFeatures(byGdal));
      const dataset = gdal.open(mine);
      try {
        const layer = dataset.layers.get(0);
        expect(layer.features.count()).toBe(count);
        layer.setSpatialFilter(X + 100, Y + 100, X + 250, Y + 180);
        const expected = gdalFeatures(byGdal).filter((f) => meets(f.box, { minX: X + 100, minY: Y + 100, maxX: X + 250, maxY: Y + 180 }));
        expect(layer.features.map((f) => f.fid)).toEqual(expected.map((f) => f.fid));
      } finally {
        dataset.close();
      }
    });
  }

  it('keeps the given order among boxes of the same Hilbert value', () => {
    const box = [X, Y, X + 1, Y + 1];
    const far = [X + 900, Y + 10, X + 901, Y + 11];
    const extent = { minX: X, minY: Y, maxX: X + 1000, maxY: Y + 1000 };
    expect([...hilbertOrder(Float64Array.from([...box, ...far, ...box, ...box]), 4, extent)]).toEqual([1, 0, 2, 3]);
  });
});

describe('FeatureEncoder and UnsortedFlatGeobufWriter (the copy written without a GDAL feature per polygon)', () => {
  const fields: Record<string, ScalarType> = { src_id: 'string', category: 'integer', destination: 'string', area_m2: 'real' };
  const polygons = Array.from({ length: 40 }, (_, n) => {
    const [x, y] = [(n % 7) * 40, Math.floor(n / 7) * 40];
    // No hole, one, two: GDAL writes the ring ends only with holes.
    const holes = [ring(x + 5, y + 5, 3), ring(x + 12, y + 12, 4)].slice(0, n % 3);
    return { wkt: `POLYGON(${[ring(x, y, 20 + (n % 5)), ...holes].join(',')})`, values: [`OCS${'é'.repeat(n % 4)}${n}`, n % 11, n % 2 ? 'habitat' : '', n * 1.5 + 0.125] };
  });

  it('writes the bytes GDAL writes for the same layer without index', () => {
    const byGdal = path.join(dir, 'copy-gdal.fgb');
    const dataset = gdal.drivers.get('FlatGeobuf').create(byGdal);
    const layer = dataset.layers.create('vintage-2019', gdal.SpatialReference.fromEPSG(2154), gdal.wkbPolygon, ['SPATIAL_INDEX=NO']);
    const types = { string: gdal.OFTString, integer: gdal.OFTInteger, real: gdal.OFTReal };
    for (const [name, type] of Object.entries(fields)) layer.fields.add(new gdal.FieldDefn(name, types[type]));
    const feature = new gdal.Feature(layer);
    for (const { wkt, values } of polygons) {
      feature.fields.set(values);
      feature.setGeometry(gdal.Geometry.fromWKT(wkt));
      layer.features.add(feature);
    }
    dataset.close();

    const byEncoder = path.join(dir, 'copy-encoder.fgb');
    const writer = new UnsortedFlatGeobufWriter(byEncoder, 'vintage-2019', gdal.SpatialReference.fromEPSG(2154), fields);
    const encoder = new FeatureEncoder(Object.values(fields));
    for (const { wkt, values } of polygons) {
      const geometry = gdal.Geometry.fromWKT(wkt) as gdal.Polygon;
      const rings = geometry.rings.map((r) => Float64Array.from(r.points.toArray().flatMap((point) => [point.x, point.y])));
      const { minX, minY, maxX, maxY } = geometry.getEnvelope();
      writer.add(encoder.encode(values, rings), { minX, minY, maxX, maxY });
    }
    writer.close();
    expect(readFileSync(byEncoder).equals(readFileSync(byGdal))).toBe(true);
  });
});

describe('FlatGeobufReader.sourceFeatures (a source layer translated by GDAL)', () => {
  it("gives GDAL's polygons for Polygon and MultiPolygon features, null for anything else, and finds non-finite coordinates", () => {
    const file = path.join(dir, 'source.fgb');
    const wkts = [
      `POLYGON(${ring(0, 0, 10)},${ring(2, 2, 3)})`,
      `MULTIPOLYGON((${ring(20, 0, 5)}),(${ring(40, 0, 5)},${ring(41, 1, 1)}))`,
      'POINT (1050000 6840000)',
      // (GDAL's driver drops features without geometry, or with an empty one: the copy counts the features it translates.)
      'NaN',
    ];
    /** A triangle with a NaN coordinate (WKT cannot say it). */
    const withNaN = (): gdal.Polygon => {
      const shell = new gdal.LinearRing();
      for (const [x, y] of [[X, Y], [X + 10, Y], [NaN, Y + 10], [X, Y]] as const) shell.points.add(x, y);
      const polygon = new gdal.Polygon();
      polygon.rings.add(shell);
      return polygon;
    };
    const dataset = gdal.drivers.get('FlatGeobuf').create(file);
    const layer = dataset.layers.create('source', gdal.SpatialReference.fromEPSG(2154), gdal.wkbUnknown, ['SPATIAL_INDEX=NO']);
    layer.fields.add(new gdal.FieldDefn('code', gdal.OFTString));
    for (const [n, wkt] of wkts.entries()) {
      const feature = new gdal.Feature(layer);
      feature.fields.set('code', `C${n}`);
      feature.setGeometry(wkt === 'NaN' ? withNaN() : gdal.Geometry.fromWKT(wkt));
      layer.features.add(feature);
    }
    dataset.close();
    const reader = FlatGeobufReader.open(file, { anyGeometry: true });
    try {
      const features = [...reader.sourceFeatures()];
      expect(features.map((f) => f.properties[0])).toEqual(['C0', 'C1', 'C2', 'C3']);
      const asWkb = (polygons: Float64Array[][] | null): Buffer[] | null => polygons && polygons.map((rings) => polygonWkb(rings));
      const expected = (wkt: string): Buffer[] => {
        const geometry = gdal.Geometry.fromWKT(wkt);
        const parts = geometry instanceof gdal.MultiPolygon ? geometry.children.map((part) => part) : [geometry];
        return parts.map((part) => part.toWKB(gdal.wkbNDR));
      };
      expect(asWkb(features[0]!.polygons)).toEqual(expected(wkts[0]!));
      expect(asWkb(features[1]!.polygons)).toEqual(expected(wkts[1]!));
      expect(features[2]!.polygons).toBeNull();
      expect(reader.nonFinitePositions()).toEqual([3]);
    } finally {
      reader.close();
    }
  });
});
