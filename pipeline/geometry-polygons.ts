/**
 * Small geometry helpers shared by the territories and overlay stages: polygonal parts of a GEOS
 * result, a hash of a polygon that does not depend on ring start or orientation, and a Morton key
 * to order communes spatially.
 *
 * @example
 *   const parts = polygonalParts(a.intersection(b)); // gdal.Polygon[], empty when they only touch
 *   if (polygonHash(parts[0]) === polygonHash(other)) ... // same shape, whatever its ring start
 */
import { createHash } from 'node:crypto';
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
 * Canonical ring: closing vertex dropped, started at the lowest (x, y) vertex, oriented clockwise when
 * `clockwise`, else counter-clockwise. Two rings with the same vertices give the same array.
 */
function canonicalRing(ring: gdal.LineString, clockwise: boolean): Float64Array {
  const points = ring.points.toArray();
  let n = points.length;
  if (n > 1 && points[0]!.x === points[n - 1]!.x && points[0]!.y === points[n - 1]!.y) n--;
  let signed = 0;
  let start = 0;
  for (let i = 0; i < n; i++) {
    const a = points[i]!;
    const b = points[(i + 1) % n]!;
    signed += a.x * b.y - b.x * a.y;
    const s = points[start]!;
    if (a.x < s.x || (a.x === s.x && a.y < s.y)) start = i;
  }
  const reverse = clockwise ? signed > 0 : signed < 0;
  const out = new Float64Array(2 * n);
  for (let k = 0; k < n; k++) {
    const i = reverse ? (start - k + n) % n : (start + k) % n;
    out[2 * k] = points[i]!.x;
    out[2 * k + 1] = points[i]!.y;
  }
  return out;
}

function compareRings(a: Float64Array, b: Float64Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * sha1 of a polygon's normalised coordinates (GDAL 3.6 exposes no OGR normalize): rings start at their
 * lowest vertex, the shell is counter-clockwise and holes clockwise, holes are sorted. Identical shapes
 * across vintages hash alike even when a producer rewrote the ring start or orientation.
 */
export function polygonHash(polygon: gdal.Polygon): string {
  const rings = polygon.rings;
  const hash = createHash('sha1');
  if (rings.count() === 0) return hash.digest('hex');
  hash.update(canonicalRing(rings.get(0), false));
  const holes: Float64Array[] = [];
  for (let i = 1; i < rings.count(); i++) holes.push(canonicalRing(rings.get(i), true));
  holes.sort(compareRings);
  for (const hole of holes) {
    hash.update('|');
    hash.update(hole);
  }
  return hash.digest('hex');
}

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
