/**
 * Overlaps within one vintage (a feature delivered twice, two producers' polygons over one parcel):
 * the overlay needs each staged vintage to be a partition, so the ingest resolves them here, after the
 * vintage is staged. Rule: polygons are taken in staged file order (the FlatGeobuf's Hilbert order,
 * which depends only on the input); each loses what earlier polygons already cover. Cut polygons are
 * counted in `overlaps_resolved` and the area they lost in `overlap_area_m2`; a polygon left with nothing
 * (an exact duplicate) disappears. The staged file is rewritten only when some polygon was cut.
 * Neighbours whose boxes overlap are first put through a touch test on their coordinates
 * (core/segments.ts `PolygonBoundary`); only those it cannot clear get a GEOS intersection, which was
 * 60 % of the ingest when every pair got one.
 *
 * @example
 *   const resolved = resolveOverlaps(path.join(tempDir, 'vintage-2019.fgb'), repairs);
 *   if (resolved) staged = resolved.staged; // the file now holds a partition
 */
import { rename, rm } from 'node:fs/promises';
import gdal from 'gdal-async';
import { areaOf, polygonalParts, robustDifference, robustIntersection, unionAll } from '../core/polygons.js';
import { FlatGeobufReader, polygonWkb, type Box, type StagedPolygon } from '../core/flatgeobuf.js';
import { PolygonBoundary } from '../core/segments.js';
import type { Repairs } from './geometry.js';

/**
 * Neighbours whose edges do not share their vertices exactly overlap by rounding (up to ~1e-6 m² in the
 * demo): below this, an overlap per pair is noise left to the overlay's tolerance, not a repair.
 */
const OVERLAP_MIN_M2 = 1e-4;
/** The last polygons read are kept for their neighbours, which the Hilbert order keeps close; older ones are read again. */
const CACHE = 4096;

export interface Resolved {
  staged: number;
  areaM2: number;
  byCategory: Map<number, number>;
}

/** Resolves overlaps in a staged FlatGeobuf in place; null when it already is a partition. */
export async function resolveOverlaps(file: string, repairs: Repairs): Promise<Resolved | null> {
  const { cuts, staged } = findCuts(file, repairs);
  if (cuts.size === 0) return null;
  const temp = `${file}.resolved.fgb`;
  try {
    const resolved = rewrite(file, temp, cuts, staged);
    await rename(temp, file);
    return resolved;
  } finally {
    await rm(temp, { force: true });
  }
}

/** Category and area of each staged feature, in file order: what the rewrite recounts without reading fields again. */
interface StagedFigures {
  categories: Int32Array;
  areas: Float64Array;
}

/**
 * Staged feature index → its polygons once earlier polygons are taken out (only for cut features), and the
 * figures of every staged feature.
 */
function findCuts(file: string, repairs: Repairs): { cuts: Map<number, gdal.Polygon[]>; staged: StagedFigures } {
  const reader = FlatGeobufReader.open(file);
  try {
    const count = reader.count;
    const boxes = new Float64Array(4 * count);
    const offsets = new Float64Array(count);
    const cuts = new Map<number, gdal.Polygon[]>();
    const staged: StagedFigures = { categories: new Int32Array(count), areas: new Float64Array(count) };
    const categoryField = reader.columnIndex('category');
    const areaField = reader.columnIndex('area_m2');
    // One pass: each polygon is checked against the earlier ones, whose boxes are all known by then.
    const earlierBoxes = new BoxGrid(reader.extent, count);

    const recent = new Map<number, StagedPolygon>();
    const geometries = new Map<number, gdal.Geometry>();
    const boundaries = new Map<number, PolygonBoundary>();
    const geometryOf = (j: number): gdal.Geometry => {
      const cut = cuts.get(j);
      if (cut) return unionAll(cut) ?? new gdal.Polygon();
      let geometry = geometries.get(j);
      if (!geometry) {
        const polygon = recent.get(j) ?? reader.read([{ index: j, offset: offsets[j]! }])[0]!;
        geometry = gdal.Geometry.fromWKB(polygonWkb(polygon.rings));
        if (recent.has(j)) geometries.set(j, geometry);
      }
      return geometry;
    };
    // Boxes that only touch cannot hold an overlap of positive area.
    const overlapsBox = (j: number, k: number): boolean =>
      boxes[4 * j]! < boxes[4 * k + 2]! && boxes[4 * j + 2]! > boxes[4 * k]! && boxes[4 * j + 1]! < boxes[4 * k + 3]! && boxes[4 * j + 3]! > boxes[4 * k + 1]!;
    const boundaryOf = (j: number): PolygonBoundary => {
      let boundary = boundaries.get(j);
      if (!boundary) {
        boundary = new PolygonBoundary(recent.get(j)!.rings);
        boundaries.set(j, boundary);
      }
      return boundary;
    };
    for (const polygon of reader.features()) {
      const k = polygon.index;
      const e = polygon.box;
      boxes.set([e.minX, e.minY, e.maxX, e.maxY], 4 * k);
      offsets[k] = polygon.offset;
      staged.categories[k] = polygon.properties[categoryField] as number;
      staged.areas[k] = polygon.properties[areaField] as number;
      recent.set(k, polygon);
      for (const evicted of [recent, geometries, boundaries]) evicted.delete(k - CACHE);
      const earlier = earlierBoxes
        .candidates(e, k)
        .filter((j) => overlapsBox(j, k))
        .sort((a, b) => a - b);
      earlierBoxes.add(e, k);
      const taken: gdal.Polygon[] = [];
      for (const j of earlier) {
        // Neighbours that provably only touch (the common case) spare a GEOS intersection.
        if (!cuts.has(j) && recent.has(j) && !boundaryOf(k).mayOverlap(boundaryOf(j))) continue;
        const other = geometryOf(j);
        if (areaOf(robustIntersection(geometryOf(k), other)) > OVERLAP_MIN_M2) taken.push(...polygonalParts(other));
      }
      if (taken.length === 0) continue;
      const geometry = geometryOf(k);
      const before = areaOf(geometry);
      const rest = polygonalParts(robustDifference(geometry, unionAll(taken)!));
      repairs.overlaps_resolved++;
      repairs.overlap_area_m2 += Math.max(0, before - rest.reduce((sum, part) => sum + part.getArea(), 0));
      cuts.set(k, rest);
    }
    return { cuts, staged };
  } finally {
    reader.close();
  }
}

/** Copies the staged file with the cut polygons replaced (one feature per part), recounting the areas. */
function rewrite(file: string, temp: string, cuts: Map<number, gdal.Polygon[]>, staged: StagedFigures): Resolved {
  const input = gdal.open(file);
  const output = gdal.drivers.get('FlatGeobuf').create(temp);
  const resolved: Resolved = { staged: 0, areaM2: 0, byCategory: new Map() };
  try {
    const source = input.layers.get(0);
    const target = output.layers.create(source.name, source.srs, gdal.wkbPolygon, ['SPATIAL_INDEX=YES']);
    source.fields.forEach((field) => void target.fields.add(field));
    const count = (category: number, area: number): void => {
      resolved.staged++;
      resolved.areaM2 += area;
      resolved.byCategory.set(category, (resolved.byCategory.get(category) ?? 0) + area);
    };
    let k = 0;
    for (let f = source.features.first(); f; f = source.features.next(), k++) {
      const category = staged.categories[k]!;
      const cut = cuts.get(k);
      if (!cut) {
        // Same schema: the feature is copied as it is, natively (reading its fields into JS cost more than the rest).
        target.features.add(f);
        count(category, staged.areas[k]!);
        continue;
      }
      for (const polygon of cut) {
        const area = polygon.getArea();
        const out = new gdal.Feature(target);
        out.setFrom(f);
        out.fields.set('area_m2', area);
        out.setGeometry(polygon);
        target.features.add(out);
        count(category, area);
      }
    }
  } finally {
    input.close();
    output.close();
  }
  return resolved;
}

/**
 * Boxes added one by one and looked up by box: a uniform grid whose cells are about twice a polygon's typical size
 * (the layer's extent over its feature count), so that each box sits in a few cells.
 */
class BoxGrid {
  private readonly cells = new Map<number, number[]>();
  /** The last lookup that returned each id, so that a box in several cells comes back once. */
  private readonly seenBy: number[] = [];
  private readonly cell: number;
  private readonly columns: number;

  constructor(private readonly extent: Box, features: number) {
    const area = Math.max(extent.maxX - extent.minX, 1) * Math.max(extent.maxY - extent.minY, 1);
    this.cell = 2 * Math.sqrt(area / Math.max(features, 1));
    this.columns = Math.floor((extent.maxX - extent.minX) / this.cell) + 1;
  }

  add(box: Box, id: number): void {
    this.forCells(box, (key) => {
      const list = this.cells.get(key);
      if (list) list.push(id);
      else this.cells.set(key, [id]);
    });
  }

  /** Ids whose cells meet the box (their boxes may still miss it). */
  candidates(box: Box, lookup: number): number[] {
    const found: number[] = [];
    this.forCells(box, (key) => {
      for (const id of this.cells.get(key) ?? []) {
        if (this.seenBy[id] === lookup) continue;
        this.seenBy[id] = lookup;
        found.push(id);
      }
    });
    return found;
  }

  private forCells(box: Box, visit: (key: number) => void): void {
    const column = (x: number): number => Math.min(this.columns - 1, Math.max(0, Math.floor((x - this.extent.minX) / this.cell)));
    const row = (y: number): number => Math.max(0, Math.floor((y - this.extent.minY) / this.cell));
    for (let r = row(box.minY); r <= row(box.maxY); r++) for (let c = column(box.minX); c <= column(box.maxX); c++) visit(r * this.columns + c);
  }
}
