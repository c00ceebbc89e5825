/**
 * Encodes staged features (a polygon and its scalar fields) as GDAL's FlatGeobuf driver does, byte for byte: the
 * ingest's copy writes them without a GDAL feature or geometry per polygon (pipeline/ingest/copy.ts). The calls to
 * the FlatBuffers builder follow GDAL's writer (the coordinates, the ring ends when there are holes, the geometry,
 * the properties, the feature, size-prefixed), so that the builder's alignment and shared vtables come out the same
 * (tests/flatgeobuf.test.ts compares them with GDAL's). The file around them (`UnsortedFlatGeobufWriter`) takes its
 * header from one GDAL writes for the same layer, with the count and extent patched.
 *
 * @example
 *   const encoder = new FeatureEncoder(['string', 'integer', 'real']);
 *   const bytes = encoder.encode(['ab', 3, 12.5], [new Float64Array([0, 0, 1, 0, 1, 1, 0, 0])]);
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { Builder } from 'flatbuffers';
import gdal from 'gdal-async';
import { FlatGeobufReader, type Box } from './flatgeobuf.js';

export type ScalarType = 'string' | 'integer' | 'real';

/** Field slots of FlatGeobuf's Geometry and Feature tables. */
const GEOMETRY_ENDS = 0;
const GEOMETRY_XY = 1;
const GEOMETRY_FIELDS = 8;
const FEATURE_GEOMETRY = 0;
const FEATURE_PROPERTIES = 1;
const FEATURE_FIELDS = 3;

export class FeatureEncoder {
  private readonly builder = new Builder(4096);
  private properties = Buffer.allocUnsafe(1024);

  constructor(private readonly types: readonly ScalarType[]) {}

  /** The size-prefixed feature (a view valid until the next call): one polygon, rings as interleaved x, y. */
  encode(values: ReadonlyArray<string | number>, rings: readonly Float64Array[]): Uint8Array {
    const b = this.builder;
    b.clear();
    const xy = rings.reduce((sum, ring) => sum + ring.length, 0);
    // GDAL writes the ring ends only for a polygon with holes.
    let endsVector = 0;
    if (rings.length > 1) {
      b.startVector(4, rings.length, 4);
      let end = xy / 2;
      for (let r = rings.length - 1; r >= 0; r--) {
        b.addInt32(end);
        end -= rings[r]!.length / 2;
      }
      endsVector = b.endVector();
    }
    b.startVector(8, xy, 8);
    for (let r = rings.length - 1; r >= 0; r--) {
      const ring = rings[r]!;
      for (let i = ring.length - 1; i >= 0; i--) b.addFloat64(ring[i]!);
    }
    const xyVector = b.endVector();
    b.startObject(GEOMETRY_FIELDS);
    b.addFieldOffset(GEOMETRY_XY, xyVector, 0);
    b.addFieldOffset(GEOMETRY_ENDS, endsVector, 0);
    const geometry = b.endObject();
    const properties = b.createByteVector(this.encodeProperties(values));
    b.startObject(FEATURE_FIELDS);
    b.addFieldOffset(FEATURE_PROPERTIES, properties, 0);
    b.addFieldOffset(FEATURE_GEOMETRY, geometry, 0);
    b.finishSizePrefixed(b.endObject());
    return b.asUint8Array();
  }

  /** Each field as GDAL writes a set one: its column (uint16), then int32, float64 or length-prefixed UTF-8. */
  private encodeProperties(values: ReadonlyArray<string | number>): Uint8Array {
    let at = 0;
    for (let column = 0; column < this.types.length; column++) {
      const value = values[column]!;
      const type = this.types[column]!;
      const room = type === 'string' ? 6 + 3 * String(value).length : 10;
      if (at + room > this.properties.length) {
        const grown = Buffer.allocUnsafe(2 * (at + room));
        this.properties.copy(grown, 0, 0, at);
        this.properties = grown;
      }
      at = this.properties.writeUInt16LE(column, at);
      if (type === 'integer') at = this.properties.writeInt32LE(value as number, at);
      else if (type === 'real') at = this.properties.writeDoubleLE(value as number, at);
      else {
        const length = this.properties.write(String(value), at + 4, 'utf8');
        this.properties.writeUInt32LE(length, at);
        at += 4 + length;
      }
    }
    return this.properties.subarray(0, at);
  }
}

/** GDAL's field type of each scalar type (for a layer GDAL writes with these fields). */
export const GDAL_FIELD_TYPES: Record<ScalarType, string> = { string: gdal.OFTString, integer: gdal.OFTInteger, real: gdal.OFTReal };
const BUFFER_BYTES = 8 << 20;

/**
 * A FlatGeobuf file without index, features appended in order (already encoded), as GDAL writes one with
 * SPATIAL_INDEX=NO: the header is the one GDAL gives the same layer (name, CRS, columns), its count and extent set
 * when the file is closed.
 */
export class UnsortedFlatGeobufWriter {
  private readonly fd: number;
  private readonly header: FlatGeobufReader;
  private buffer = Buffer.allocUnsafe(BUFFER_BYTES);
  private used = 0;
  /** Where the next buffered features go in the file. */
  private position = 0;
  private count = 0;
  private readonly extent: Box = { minX: Infinity, minY: Infinity, maxX: -Infinity, maxY: -Infinity };

  constructor(
    file: string,
    layerName: string,
    srs: gdal.SpatialReference,
    fields: Readonly<Record<string, ScalarType>>,
  ) {
    this.header = headerTemplate(`${file}.header.fgb`, layerName, srs, fields);
    this.fd = openSync(file, 'w');
    // The header's size does not depend on the values patched in at the end: it is written now and again then.
    this.writeHeader();
  }

  add(feature: Uint8Array, box: Box): void {
    if (this.used + feature.length > this.buffer.length) this.flush(feature.length);
    this.buffer.set(feature, this.used);
    this.used += feature.length;
    this.count++;
    if (box.minX < this.extent.minX) this.extent.minX = box.minX;
    if (box.minY < this.extent.minY) this.extent.minY = box.minY;
    if (box.maxX > this.extent.maxX) this.extent.maxX = box.maxX;
    if (box.maxY > this.extent.maxY) this.extent.maxY = box.maxY;
  }

  close(): void {
    try {
      this.flush(0);
      this.writeHeader();
    } finally {
      closeSync(this.fd);
      this.header.close();
      rmSync(this.header.file, { force: true });
    }
  }

  private writeHeader(): void {
    const header = this.header.patchedHeader(this.count, this.count > 0 ? this.extent : { minX: 0, minY: 0, maxX: 0, maxY: 0 }, 0);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(header.length);
    const bytes = Buffer.concat([this.header.magic, prefix, header]);
    writeSync(this.fd, bytes, 0, bytes.length, 0);
    this.position ||= bytes.length;
  }

  private flush(room: number): void {
    writeSync(this.fd, this.buffer, 0, this.used, this.position);
    this.position += this.used;
    this.used = 0;
    if (room > this.buffer.length) this.buffer = Buffer.allocUnsafe(room);
  }
}

/** The header GDAL writes for this layer without index, from a file of one feature it writes at `file` (kept open). */
function headerTemplate(file: string, layerName: string, srs: gdal.SpatialReference, fields: Readonly<Record<string, ScalarType>>): FlatGeobufReader {
  const dataset = gdal.drivers.get('FlatGeobuf').create(file);
  try {
    const layer = dataset.layers.create(layerName, srs, gdal.wkbPolygon, ['SPATIAL_INDEX=NO']);
    for (const [name, type] of Object.entries(fields)) layer.fields.add(new gdal.FieldDefn(name, GDAL_FIELD_TYPES[type]));
    const feature = new gdal.Feature(layer);
    feature.setGeometry(gdal.Geometry.fromWKT('POLYGON ((0 0, 1 0, 1 1, 0 0))'));
    layer.features.add(feature);
  } finally {
    dataset.close();
  }
  return FlatGeobufReader.open(file);
}
