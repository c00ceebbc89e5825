/**
 * Coordinate sanity shared by the readers of OCS vintages and communes: a layer's declared CRS is checked
 * against its extent (`resolveCrs`), and as GEOS and the piece keys of the overlay fail (or silently give
 * NaN areas) on NaN, infinite or absurdly large coordinates, every source feature is checked before any
 * geometry operation, and again once in EPSG:2154.
 *
 * @example
 *   const fault = toLambert93(geometry, opened.transform); // the geometry is now in EPSG:2154
 *   if (fault) throw new UserError(fault, { file, layer, feature });
 */
import gdal from 'gdal-async';
import { LAMBERT93 } from './datasets.js';
import { UserError } from './errors.js';

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
function nonFiniteCoordinate(geometry: gdal.Geometry, e: gdal.Envelope): string | null {
  const finite = [e.minX, e.minY, e.maxX, e.maxY].every(Number.isFinite) && (!isSurface(geometry) || Number.isFinite((geometry as gdal.Polygon).getArea()));
  return finite ? null : 'a NaN or infinite coordinate';
}

/** A description of the box when it lies (even partly) outside plausible Lambert-93 coordinates, else null. */
function outsideLambert93(e: gdal.Envelope): string | null {
  if (isPlausibleLambert93(e.minX, e.minY) && isPlausibleLambert93(e.maxX, e.maxY)) return null;
  return `coordinates x ${fmt(e.minX)}…${fmt(e.maxX)}, y ${fmt(e.minY)}…${fmt(e.maxY)} fall outside metropolitan France once in EPSG:2154`;
}

const fmt = (n: number): string => (Math.abs(n) < 1e15 ? String(Math.round(n * 1000) / 1000) : n.toExponential(3));

/**
 * Checks one feature's geometry in its source CRS and brings it to EPSG:2154 in place (`transform`
 * null: already there). Returns what is wrong with its coordinates, or null.
 */
export function toLambert93(geometry: gdal.Geometry, transform: gdal.CoordinateTransformation | null): string | null {
  if (geometry.isEmpty()) return null;
  const source = geometry.getEnvelope();
  const fault = nonFiniteCoordinate(geometry, source);
  // Already in EPSG:2154: the box just checked is the final one (one envelope per feature, which the ingest reads by the million).
  if (fault || !transform) return fault ?? outsideLambert93(source);
  try {
    geometry.transform(transform);
  } catch {
    return 'coordinates that cannot be projected to EPSG:2154';
  }
  const projected = geometry.getEnvelope();
  return nonFiniteCoordinate(geometry, projected) ?? outsideLambert93(projected);
}

/** Features with geometry read, all faulty, before a layer is judged to be in a wrong CRS rather than to hold a few faulty features. */
const WRONG_CRS_AFTER = 1000;

/**
 * The first feature (in layer order) whose coordinates are faulty, when the layer also holds sound
 * ones: one bad feature to name rather than a wrong CRS. Null when every feature read is faulty (all of
 * them, or the first WRONG_CRS_AFTER). Only called once a layer has failed its extent check.
 */
export function faultyFeature(
  layer: gdal.Layer,
  transform: gdal.CoordinateTransformation | null,
  label: (feature: gdal.Feature) => string,
): { feature: string; fault: string } | null {
  let first: { feature: string; fault: string } | null = null;
  let sound = false;
  let read = 0;
  for (let feature = layer.features.first(); feature && (first === null || !sound); feature = layer.features.next()) {
    const geometry = feature.getGeometry();
    if (!geometry || geometry.isEmpty()) continue;
    const fault = toLambert93(geometry.clone(), transform);
    if (fault === null) sound = true;
    else first ??= { feature: label(feature), fault };
    if (!sound && ++read >= WRONG_CRS_AFTER) return null;
  }
  return sound ? first : null;
}

/** A spatial reference that reads coordinates as x=easting/longitude, y=northing/latitude. */
function traditionalSrs(input: string): gdal.SpatialReference {
  const previous = gdal.config.get('OSR_DEFAULT_AXIS_MAPPING_STRATEGY');
  gdal.config.set('OSR_DEFAULT_AXIS_MAPPING_STRATEGY', 'TRADITIONAL_GIS_ORDER');
  try {
    return gdal.SpatialReference.fromUserInput(input);
  } catch (error) {
    throw new UserError(`unknown CRS ${input}: ${error instanceof Error ? error.message : String(error)}`, { remedy: 'use --assume-crs EPSG:XXXX' });
  } finally {
    gdal.config.set('OSR_DEFAULT_AXIS_MAPPING_STRATEGY', previous);
  }
}

function crsLabel(srs: gdal.SpatialReference): string {
  const authority = srs.getAuthorityName(null);
  const code = srs.getAuthorityCode(null);
  if (authority && code) return `${authority}:${code}`;
  return srs.getAttrValue(srs.isProjected() ? 'PROJCS' : 'GEOGCS') ?? 'unnamed CRS';
}

/**
 * Declared (or assumed) CRS, checked against the layer's coordinates, and the transform to EPSG:2154
 * (OCS and commune layers). When the extent fails the check, the features are read to tell a wrong CRS
 * (every feature is off) from a few faulty features (the first is named). `label` names a feature.
 */
export function resolveCrs(
  layer: gdal.Layer,
  file: string,
  assumeCrs: string | undefined,
  label: (feature: gdal.Feature) => string = (feature) => String(feature.fid),
): { crs: string; transform: gdal.CoordinateTransformation | null } {
  let srs = layer.srs;
  let crs: string;
  if (srs) {
    crs = crsLabel(srs);
  } else if (assumeCrs) {
    srs = traditionalSrs(assumeCrs);
    crs = `${crsLabel(srs)} (assumed)`;
  } else {
    throw new UserError('the layer declares no CRS', { file, layer: layer.name, remedy: 'pass --assume-crs EPSG:2154 (or the right code) if you know it' });
  }
  const transform = srs.isSame(LAMBERT93) ? null : new gdal.CoordinateTransformation(srs, LAMBERT93);
  const wrongCrs = (what: string): UserError => {
    const culprit = faultyFeature(layer, transform, label);
    if (culprit) return new UserError(culprit.fault, { file, layer: layer.name, feature: culprit.feature, remedy: 'fix or remove this feature' });
    return new UserError(`coordinates are not in the declared CRS ${crs}: ${what}`, {
      file,
      layer: layer.name,
      remedy: 'assign the right CRS to the file (ogr2ogr -a_srs EPSG:XXXX) and ingest it again',
    });
  };
  let extent: gdal.Envelope;
  try {
    extent = layer.getExtent();
  } catch {
    // No geometry at all (empty layer or only null geometries): nothing to check; reading reports real faults.
    return { crs, transform };
  }
  if (srs.isGeographic() && (Math.max(Math.abs(extent.minX), Math.abs(extent.maxX)) > 180 || Math.max(Math.abs(extent.minY), Math.abs(extent.maxY)) > 90)) {
    throw wrongCrs(`x ${fmt(extent.minX)}…${fmt(extent.maxX)}, y ${fmt(extent.minY)}…${fmt(extent.maxY)} are not degrees`);
  }
  const corners: Array<[number, number]> = [
    [extent.minX, extent.minY],
    [extent.minX, extent.maxY],
    [extent.maxX, extent.minY],
    [extent.maxX, extent.maxY],
  ];
  for (const [x, y] of corners) {
    let point = { x, y };
    try {
      if (transform) point = transform.transformPoint(x, y);
    } catch {
      throw wrongCrs(`(${fmt(x)}, ${fmt(y)}) cannot be projected to EPSG:2154`);
    }
    if (!isPlausibleLambert93(point.x, point.y)) {
      throw wrongCrs(`(${fmt(x)}, ${fmt(y)}) falls outside metropolitan France once in EPSG:2154`);
    }
  }
  return { crs, transform };
}

