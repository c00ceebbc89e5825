/**
 * Geometry clean-up for the ingest stage: repair invalid polygons (GEOS make-valid), drop empty ones,
 * keep only polygonal parts and explode multipolygons, counting every change so that no area is lost
 * silently.
 *
 * @example
 *   const repairs = newRepairs();
 *   const parts = polygonParts(feature.getGeometry(), repairs); // gdal.Polygon[], maybe empty
 */
import gdal from 'gdal-async';
import { UserError } from '../core/errors.js';

/** Counters recorded in the manifest's `repairs`, in this order. */
export interface Repairs {
  invalid_repaired: number;
  /** |area after repair − area before| summed over repaired features (m², in EPSG:2154). */
  invalid_repair_area_change_m2: number;
  empty_dropped: number;
  multipart_exploded: number;
  non_polygon_parts_dropped: number;
  /** Area of polygonal features whose every part was dropped (degenerate after repair). */
  area_dropped_m2: number;
  duplicate_ids: number;
  unclassified_features: number;
  /** Features with a ring whose last vertex was not its first (closed before anything else). */
  rings_closed: number;
  /** Polygons that overlapped earlier ones of the vintage and lost the shared area (pipeline/ingest/overlaps.ts). */
  overlaps_resolved: number;
  /** Area those polygons lost: counted once, for the polygon first in staged order. */
  overlap_area_m2: number;
}

export function newRepairs(): Repairs {
  return {
    invalid_repaired: 0,
    invalid_repair_area_change_m2: 0,
    empty_dropped: 0,
    multipart_exploded: 0,
    non_polygon_parts_dropped: 0,
    area_dropped_m2: 0,
    duplicate_ids: 0,
    unclassified_features: 0,
    rings_closed: 0,
    overlaps_resolved: 0,
    overlap_area_m2: 0,
  };
}

const flatType = (type: number): number => (type & 0x7fffffff) % 1000;
const POLYGON = 3;
const MULTI_OR_COLLECTION = new Set([4, 5, 6, 7]); // MultiPoint, MultiLineString, MultiPolygon, GeometryCollection

function areaOf(geometry: gdal.Geometry): number {
  return geometry instanceof gdal.Polygon || geometry instanceof gdal.MultiPolygon || geometry instanceof gdal.GeometryCollection
    ? geometry.getArea()
    : 0;
}

/** Polygons of a (repaired) geometry, walking collections; other parts are counted as dropped. */
function collectPolygons(geometry: gdal.Geometry, out: gdal.Polygon[], repairs: Repairs): void {
  const type = flatType(geometry.wkbType);
  if (type === POLYGON) {
    if (!geometry.isEmpty()) out.push(geometry as gdal.Polygon);
    return;
  }
  if (MULTI_OR_COLLECTION.has(type)) {
    const children = (geometry as gdal.GeometryCollection).children;
    for (let i = 0; i < children.count(); i++) collectPolygons(children.get(i), out, repairs);
    return;
  }
  repairs.non_polygon_parts_dropped++;
}

/**
 * The single polygons to stage for one source geometry (already in EPSG:2154), with repairs counted.
 * A null or empty geometry gives no polygon; one that GEOS cannot repair is a UserError (the caller
 * names the feature).
 */
export function polygonParts(geometry: gdal.Geometry | null, repairs: Repairs): gdal.Polygon[] {
  if (!geometry || geometry.isEmpty()) {
    repairs.empty_dropped++;
    return [];
  }
  if (geometry.wkbType !== flatType(geometry.wkbType)) geometry.flattenTo2D(); // Z/M: staged polygons are 2D
  // A damaged file can leave a ring unclosed, which GEOS refuses outright: closing it (a vertex more) is a repair.
  const size = geometry.wkbSize;
  geometry.closeRings();
  if (geometry.wkbSize !== size) repairs.rings_closed++;
  let clean = geometry;
  try {
    if (!geometry.isValid()) {
      const before = areaOf(geometry);
      clean = geometry.makeValid();
      repairs.invalid_repaired++;
      repairs.invalid_repair_area_change_m2 += Math.abs(areaOf(clean) - before);
    }
  } catch (error) {
    // GEOS rejects some shapes before repairing them (a ring of fewer than 4 points…): the feature is unusable as it is.
    throw new UserError(`a geometry that cannot be repaired: ${error instanceof Error ? error.message : String(error)}`, { remedy: 'fix or remove this feature' });
  }
  const parts: gdal.Polygon[] = [];
  collectPolygons(clean, parts, repairs);
  if (parts.length === 0) repairs.area_dropped_m2 += areaOf(geometry);
  if (parts.length > 1) repairs.multipart_exploded++;
  return parts;
}
