/**
 * Coordinate sanity shared by the readers of OCS vintages and communes: GEOS and the piece keys of the
 * overlay fail (or silently give NaN areas) on NaN, infinite or absurdly large coordinates, so every
 * source feature is checked before any geometry operation, and again once in EPSG:2154.
 *
 * @example
 *   const fault = nonFiniteCoordinate(geometry) ?? (transform(geometry), outsideLambert93(geometry));
 *   if (fault) throw new UserError(`${fault}`, { file, layer, feature });
 */
import gdal from 'gdal-async';

/** EPSG:2154 area of use (metropolitan France) widened by 500 km: anything outside is not Lambert-93 data. */
export const LAMBERT93_PLAUSIBLE = { minX: -860_000, maxX: 1_810_000, minY: 5_540_000, maxY: 7_730_000 };

export function isPlausibleLambert93(x: number, y: number): boolean {
  const p = LAMBERT93_PLAUSIBLE;
  return x >= p.minX && x <= p.maxX && y >= p.minY && y <= p.maxY;
}

const isSurface = (g: gdal.Geometry): boolean => g instanceof gdal.Polygon || g instanceof gdal.MultiPolygon || g instanceof gdal.GeometryCollection;

/**
 * 'a NaN or infinite coordinate' when the geometry has one, else null. OGR's envelope skips a NaN
 * that is not the first vertex, but the ring area does not: both are looked at.
 */
export function nonFiniteCoordinate(geometry: gdal.Geometry): string | null {
  if (geometry.isEmpty()) return null;
  const e = geometry.getEnvelope();
  const finite = [e.minX, e.minY, e.maxX, e.maxY].every(Number.isFinite) && (!isSurface(geometry) || Number.isFinite((geometry as gdal.Polygon).getArea()));
  return finite ? null : 'a NaN or infinite coordinate';
}

/** A description of the geometry's box when it lies (even partly) outside plausible Lambert-93 coordinates, else null. */
export function outsideLambert93(geometry: gdal.Geometry): string | null {
  if (geometry.isEmpty()) return null;
  const e = geometry.getEnvelope();
  if (isPlausibleLambert93(e.minX, e.minY) && isPlausibleLambert93(e.maxX, e.maxY)) return null;
  return `coordinates x ${fmt(e.minX)}…${fmt(e.maxX)}, y ${fmt(e.minY)}…${fmt(e.maxY)} fall outside metropolitan France once in EPSG:2154`;
}

const fmt = (n: number): string => (Math.abs(n) < 1e15 ? String(Math.round(n * 1000) / 1000) : n.toExponential(3));

/**
 * Checks one feature's geometry in its source CRS and brings it to EPSG:2154 in place (`transform`
 * null: already there). Returns what is wrong with its coordinates, or null.
 */
export function toLambert93(geometry: gdal.Geometry, transform: gdal.CoordinateTransformation | null): string | null {
  const fault = nonFiniteCoordinate(geometry);
  if (fault) return fault;
  if (transform && !geometry.isEmpty()) {
    try {
      geometry.transform(transform);
    } catch {
      return 'coordinates that cannot be projected to EPSG:2154';
    }
  }
  return nonFiniteCoordinate(geometry) ?? outsideLambert93(geometry);
}

/**
 * The first feature (in layer order) whose coordinates are faulty, with how many are: tells one bad
 * feature (name it) from a wrong CRS (all of them). Reads the whole layer: only called once a layer
 * has failed its extent check.
 */
export function faultyFeatures(
  layer: gdal.Layer,
  transform: gdal.CoordinateTransformation | null,
  label: (feature: gdal.Feature) => string,
): { first: string; fault: string; faulty: number; total: number } | null {
  let first: { first: string; fault: string } | null = null;
  let faulty = 0;
  let total = 0;
  for (let feature = layer.features.first(); feature; feature = layer.features.next()) {
    const geometry = feature.getGeometry();
    if (!geometry || geometry.isEmpty()) continue;
    total++;
    const fault = toLambert93(geometry.clone(), transform);
    if (fault === null) continue;
    faulty++;
    first ??= { first: label(feature), fault };
  }
  return first ? { ...first, faulty, total } : null;
}
