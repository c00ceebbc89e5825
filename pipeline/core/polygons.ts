/**
 * Small geometry helpers shared by the territories and overlay stages: polygonal parts of a GEOS
 * result, a hash of a polygon that does not depend on ring start or orientation, and a Morton key
 * to order communes spatially.
 *
 * @example
 *   const parts = polygonalParts(a.intersection(b)); // gdal.Polygon[], empty when they only touch
 *   if (polygonHash(parts[0]) === polygonHash(other)) ... // same shape, whatever its ring start
 */
import { hash } from 'node:crypto';
import gdal from 'gdal-async';

const flatType = (type: number): number => (type & 0x7fffffff) % 1000;
const POLYGON = 3;
const COLLECTIONS = new Set([4, 5, 6, 7]);

/** The non-empty polygons of a geometry, walking multi-geometries and collections; lines and points are dropped. */
export function polygonalParts(geometry: gdal.Geometry | null): gdal.Polygon[] {
  const out: gdal.Polygon[] = [];
  const walk = (g: gdal.Geometry): void => {
    const type = flatType(g.wkbType);
    if (type === POLYGON) {
      if (!g.isEmpty()) out.push(g as gdal.Polygon);
    } else if (COLLECTIONS.has(type)) {
      const children = (g as gdal.GeometryCollection).children;
      for (let i = 0; i < children.count(); i++) walk(children.get(i));
    }
  };
  if (geometry && !geometry.isEmpty()) walk(geometry);
  return out;
}

/** A MultiPolygon holding clones of the given polygons (for unions and areas). */
export function multiPolygon(polygons: gdal.Polygon[]): gdal.MultiPolygon {
  const multi = new gdal.MultiPolygon();
  for (const polygon of polygons) multi.children.add(polygon);
  return multi;
}

/** Union of polygons (GEOS cascaded union); null for none. */
export function unionAll(polygons: gdal.Polygon[]): gdal.Geometry | null {
  if (polygons.length === 0) return null;
  if (polygons.length === 1) return polygons[0]!.clone();
  return multiPolygon(polygons).unionCascaded();
}

/**
 * GEOS overlay that survives robustness failures (TopologyException on nearly coincident edges), as
 * overlapping polygons of one vintage produce: retried on made-valid operands, then with `b` grown by
 * a micrometre so that the edges are noded apart (a few µm² of difference).
 */
function robustOverlay(a: gdal.Geometry, b: gdal.Geometry, operation: 'intersection' | 'difference'): gdal.Geometry {
  try {
    return a[operation](b);
  } catch {
    try {
      return a.makeValid()[operation](b.makeValid());
    } catch {
      return a.makeValid()[operation](b.makeValid().buffer(1e-6, 2));
    }
  }
}

export const robustIntersection = (a: gdal.Geometry, b: gdal.Geometry): gdal.Geometry => robustOverlay(a, b, 'intersection');
export const robustDifference = (a: gdal.Geometry, b: gdal.Geometry): gdal.Geometry => robustOverlay(a, b, 'difference');

/** Area of any geometry, 0 for non-polygonal ones. */
export function areaOf(geometry: gdal.Geometry | null): number {
  let total = 0;
  for (const polygon of polygonalParts(geometry)) total += polygon.getArea();
  return total;
}

/** Length of the linear parts of a geometry (walking collections). */
export function lengthOf(geometry: gdal.Geometry | null): number {
  if (!geometry || geometry.isEmpty()) return 0;
  const type = flatType(geometry.wkbType);
  if (type === 2) return (geometry as gdal.LineString).getLength();
  if (!COLLECTIONS.has(type)) return 0;
  const children = (geometry as gdal.GeometryCollection).children;
  let total = 0;
  for (let i = 0; i < children.count(); i++) total += lengthOf(children.get(i));
  return total;
}

/**
 * Canonical ring from interleaved x, y (closing vertex included or not): started at the lowest (x, y)
 * vertex, oriented clockwise when `clockwise`, else counter-clockwise. Same vertices, same array.
 */
function canonicalRing(xy: Float64Array, clockwise: boolean): Float64Array {
  let n = xy.length / 2;
  if (n > 1 && xy[0] === xy[2 * n - 2] && xy[1] === xy[2 * n - 1]) n--;
  let signed = 0;
  let start = 0;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    signed += xy[2 * i]! * xy[2 * j + 1]! - xy[2 * j]! * xy[2 * i + 1]!;
    const x = xy[2 * i]!;
    const y = xy[2 * i + 1]!;
    const sx = xy[2 * start]!;
    if (x < sx || (x === sx && y < xy[2 * start + 1]!)) start = i;
  }
  const reverse = clockwise ? signed > 0 : signed < 0;
  const out = new Float64Array(2 * n);
  for (let k = 0; k < n; k++) {
    const i = reverse ? (start - k + n) % n : (start + k) % n;
    out[2 * k] = xy[2 * i]!;
    out[2 * k + 1] = xy[2 * i + 1]!;
  }
  return out;
}

function compareRings(a: Float64Array, b: Float64Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/** Rings of a polygon as interleaved x, y, closed (Z and M dropped). */
export const polygonCoordinates = (polygon: gdal.Polygon): Float64Array[] => wkbPolygonRings(polygon.toWKB());

/** Rings of a WKB Polygon as interleaved x, y (Z and M dropped); read straight from the bytes, which is fast. */
function wkbPolygonRings(wkb: Buffer): Float64Array[] {
  const little = wkb[0] === 1;
  const u32 = (at: number): number => (little ? wkb.readUInt32LE(at) : wkb.readUInt32BE(at));
  const f64 = (at: number): number => (little ? wkb.readDoubleLE(at) : wkb.readDoubleBE(at));
  const type = u32(1);
  const iso = Math.floor((type & 0xffff) / 1000); // ISO codes: 1xxx Z, 2xxx M, 3xxx ZM; older flags in the high bits
  const hasZ = iso === 1 || iso === 3 || (type & 0x80000000) !== 0;
  const hasM = iso === 2 || iso === 3 || (type & 0x40000000) !== 0;
  const dims = 2 + (hasZ ? 1 : 0) + (hasM ? 1 : 0);
  const rings: Float64Array[] = [];
  let at = 9;
  const count = u32(5);
  for (let r = 0; r < count; r++) {
    const n = u32(at);
    at += 4;
    const xy = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) {
      xy[2 * i] = f64(at);
      xy[2 * i + 1] = f64(at + 8);
      at += 8 * dims;
    }
    rings.push(xy);
  }
  return rings;
}

/**
 * sha1 of a polygon's normalised coordinates (GDAL 3.6 exposes no OGR normalize): rings start at their
 * lowest vertex, the shell is counter-clockwise and holes clockwise, holes are sorted. Identical shapes
 * across vintages hash alike even when a producer rewrote the ring start or orientation.
 */
export const polygonHash = (polygon: gdal.Polygon): string => ringsHash(wkbPolygonRings(polygon.toWKB()));

/** `polygonHash` of a polygon given as rings of interleaved x, y (as the staged-file reader decodes them). */
export function ringsHash(rings: readonly Float64Array[]): string {
  if (rings.length === 0) return hash('sha1', '', 'hex');
  const shell = canonicalRing(rings[0]!, false);
  // One-shot hashing: a Hash object per polygon, with its native handle, cost more than the digest itself.
  if (rings.length === 1) return hash('sha1', shell, 'hex');
  const holes = rings.slice(1).map((ring) => canonicalRing(ring, true));
  holes.sort(compareRings);
  const bytes = (ring: Float64Array): Uint8Array => new Uint8Array(ring.buffer, ring.byteOffset, ring.byteLength);
  return hash('sha1', Buffer.concat([bytes(shell), ...holes.flatMap((hole) => [HOLE_SEPARATOR, bytes(hole)])]), 'hex');
}

/** Written before each hole's coordinates in the hashed bytes. */
const HOLE_SEPARATOR = Buffer.from('|');

/** Interleaves the bits of two 16-bit grid coordinates (Z-order), so nearby communes get nearby keys. */
export function mortonKey(x: number, y: number, bounds: { minX: number; minY: number; maxX: number; maxY: number }): number {
  const scale = (v: number, min: number, max: number): number =>
    max > min ? Math.min(0xffff, Math.max(0, Math.floor(((v - min) / (max - min)) * 0xffff))) : 0;
  const spread = (v: number): number => {
    v = (v | (v << 8)) & 0x00ff00ff;
    v = (v | (v << 4)) & 0x0f0f0f0f;
    v = (v | (v << 2)) & 0x33333333;
    v = (v | (v << 1)) & 0x55555555;
    return v;
  };
  return (spread(scale(x, bounds.minX, bounds.maxX)) | (spread(scale(y, bounds.minY, bounds.maxY)) << 1)) >>> 0;
}

/** A territory above the commune level, as the union of its member communes. */
export interface MemberUnion<Level extends string> {
  level: Level;
  code: string;
  name: string;
  area_m2: number;
  geomWkb: Buffer;
}

/**
 * One geometry per territory of the membership rows: the GEOS union of its member communes' polygons, sorted by
 * level and code. Territories whose members have no polygon are left out.
 */
export function unionMembers<Level extends string>(
  membership: ReadonlyArray<{ commune_code: string; level: Level; code: string; name: string }>,
  communeWkb: ReadonlyMap<string, Uint8Array>,
): Array<MemberUnion<Level>> {
  const groups = new Map<string, { level: Level; code: string; name: string; members: string[] }>();
  for (const row of membership) {
    const key = `${row.level}\u0000${row.code}`;
    const group = groups.get(key) ?? { level: row.level, code: row.code, name: row.name, members: [] };
    group.members.push(row.commune_code);
    groups.set(key, group);
  }
  const out: Array<MemberUnion<Level>> = [];
  for (const group of [...groups.values()].sort((a, b) => (a.level + a.code < b.level + b.code ? -1 : 1))) {
    const polygons = group.members.flatMap((code) => polygonalParts(gdal.Geometry.fromWKB(Buffer.from(communeWkb.get(code)!))));
    const union = unionAll(polygons);
    if (!union) continue;
    out.push({ level: group.level, code: group.code, name: group.name, area_m2: areaOf(union), geomWkb: union.toWKB() });
  }
  return out;
}
