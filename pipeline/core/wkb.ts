/**
 * The one WKB reader (DuckDB hands geometries over as WKB; there is no spatial extension to decode them):
 * ISO and EWKB type codes, Z and M dropped, an EWKB SRID skipped.
 *
 * @example wkbBBox(bytes) // [minX, minY, maxX, maxY]
 * @example polygonRings(bytes) // [[[x, y], …], …]
 */

export type BBox = [number, number, number, number];

/** Grows `target` in place to enclose `box` (an infinite box, empty, leaves it as it is). */
export function extendBox(target: BBox, box: BBox): void {
  target[0] = Math.min(target[0], box[0]);
  target[1] = Math.min(target[1], box[1]);
  target[2] = Math.max(target[2], box[2]);
  target[3] = Math.max(target[3], box[3]);
}

/** A cursor over WKB bytes. Each geometry header sets the byte order and point size of what follows it. */
class WkbCursor {
  private readonly view: DataView;
  private pos = 0;
  private little = true;
  private stride = 16;

  constructor(wkb: Uint8Array) {
    this.view = new DataView(wkb.buffer, wkb.byteOffset, wkb.byteLength);
  }

  /** Reads a geometry header and returns its base type: 1 Point … 7 GeometryCollection. */
  header(): number {
    this.little = this.view.getUint8(this.pos) === 1;
    const raw = this.view.getUint32(this.pos + 1, this.little);
    this.pos += 5;
    const base = raw & 0x0fffffff;
    const iso = Math.floor(base / 1000); // ISO: +1000 Z, +2000 M, +3000 ZM
    const hasZ = (raw & 0x80000000) !== 0 || iso === 1 || iso === 3;
    const hasM = (raw & 0x40000000) !== 0 || iso === 2 || iso === 3;
    if (raw & 0x20000000) this.pos += 4; // EWKB SRID
    this.stride = 8 * (2 + (hasZ ? 1 : 0) + (hasM ? 1 : 0));
    const type = base % 1000;
    if (type < 1 || type > 7) throw new Error(`unsupported WKB geometry type ${raw}`);
    return type;
  }

  count(): number {
    this.pos += 4;
    return this.view.getUint32(this.pos - 4, this.little);
  }

  x(): number {
    return this.view.getFloat64(this.pos, this.little);
  }

  y(): number {
    return this.view.getFloat64(this.pos + 8, this.little);
  }

  nextPoint(): void {
    this.pos += this.stride;
  }

  points(n: number): number[][] {
    const out: number[][] = new Array(n);
    for (let i = 0; i < n; i++, this.nextPoint()) out[i] = [this.x(), this.y()];
    return out;
  }
}

/** Bounding box of any WKB geometry, read without building coordinate arrays (tiles index millions of pieces). */
export function wkbBBox(wkb: Uint8Array): BBox {
  const cursor = new WkbCursor(wkb);
  const box: BBox = [Infinity, Infinity, -Infinity, -Infinity];
  const readPoints = (n: number): void => {
    for (let i = 0; i < n; i++, cursor.nextPoint()) {
      const x = cursor.x();
      const y = cursor.y();
      if (Number.isNaN(x)) continue; // empty point
      if (x < box[0]) box[0] = x;
      if (y < box[1]) box[1] = y;
      if (x > box[2]) box[2] = x;
      if (y > box[3]) box[3] = y;
    }
  };
  const read = (): void => {
    const type = cursor.header();
    if (type === 1) readPoints(1);
    else if (type === 2) readPoints(cursor.count());
    else if (type === 3) for (let rings = cursor.count(), r = 0; r < rings; r++) readPoints(cursor.count());
    else for (let parts = cursor.count(), p = 0; p < parts; p++) read();
  };
  read();
  return box;
}

/** WKB → GeoJSON geometry (2D). */
export function wkbToGeoJSON(wkb: Uint8Array): GeoJSON.Geometry {
  const cursor = new WkbCursor(wkb);
  const read = (): GeoJSON.Geometry => {
    const type = cursor.header();
    const rings = (): number[][][] => Array.from({ length: cursor.count() }, () => cursor.points(cursor.count()));
    const parts = <T>(): T[] => Array.from({ length: cursor.count() }, () => read() as T);
    switch (type) {
      case 1:
        return { type: 'Point', coordinates: cursor.points(1)[0]! };
      case 2:
        return { type: 'LineString', coordinates: cursor.points(cursor.count()) };
      case 3:
        return { type: 'Polygon', coordinates: rings() };
      case 4:
        return { type: 'MultiPoint', coordinates: parts<GeoJSON.Point>().map((g) => g.coordinates) };
      case 5:
        return { type: 'MultiLineString', coordinates: parts<GeoJSON.LineString>().map((g) => g.coordinates) };
      case 6:
        return { type: 'MultiPolygon', coordinates: parts<GeoJSON.Polygon>().map((g) => g.coordinates) };
      default:
        return { type: 'GeometryCollection', geometries: parts<GeoJSON.Geometry>() };
    }
  };
  return read();
}

/** Every polygon ring of a (Multi)Polygon or GeometryCollection as [x, y] arrays; other types have none. */
export function polygonRings(wkb: Uint8Array): number[][][] {
  const rings: number[][][] = [];
  const collect = (geometry: GeoJSON.Geometry): void => {
    if (geometry.type === 'Polygon') rings.push(...geometry.coordinates);
    else if (geometry.type === 'MultiPolygon') for (const polygon of geometry.coordinates) rings.push(...polygon);
    else if (geometry.type === 'GeometryCollection') geometry.geometries.forEach(collect);
  };
  collect(wkbToGeoJSON(wkb));
  return rings;
}

/** The rings of a WKB Polygon as interleaved x, y (what core/flatgeobuf-encoder.ts encodes). */
export function polygonRingCoordinates(wkb: Uint8Array): Float64Array[] {
  const cursor = new WkbCursor(wkb);
  if (cursor.header() !== 3) throw new Error('polygonRingCoordinates: not a WKB Polygon');
  const rings: Float64Array[] = [];
  for (let r = cursor.count(); r > 0; r--) {
    const ring = new Float64Array(2 * cursor.count());
    for (let i = 0; i < ring.length; i += 2, cursor.nextPoint()) {
      ring[i] = cursor.x();
      ring[i + 1] = cursor.y();
    }
    rings.push(ring);
  }
  return rings;
}

/** [minX, minY, maxX, maxY] of rings. */
export function ringsBbox(rings: number[][][]): BBox {
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const ring of rings)
    for (const [x, y] of ring) {
      minX = Math.min(minX, x!);
      minY = Math.min(minY, y!);
      maxX = Math.max(maxX, x!);
      maxY = Math.max(maxY, y!);
    }
  return [minX, minY, maxX, maxY];
}
