/**
 * Overlaps within one vintage (a feature delivered twice, two producers' polygons over one parcel):
 * the overlay needs each staged vintage to be a partition, so the ingest resolves them here, between the copy
 * (GDAL writes the vintage without spatial index, in source order) and the staged file (sorted and indexed by
 * core/flatgeobuf-writer.ts). Rule: polygons are taken in the FlatGeobuf index order of the copy (Hilbert value of
 * their box centres over the vintage's extent, then source order), which depends only on the input; each loses
 * what earlier polygons already cover. Cut polygons are counted in `overlaps_resolved` and the area they lost in
 * `overlap_area_m2`; a polygon left with nothing (an exact duplicate) disappears. Neighbours whose boxes overlap
 * are first put through a touch test on their coordinates (core/segments.ts `PolygonBoundary`); only those it
 * cannot clear get a GEOS intersection, which was 60 % of the ingest when every pair got one.
 *
 * @example
 *   const { staged } = resolveOverlaps(path.join(tempDir, 'vintage-2019.unsorted.fgb'), path.join(tempDir, 'vintage-2019.fgb'), repairs);
 */
import { rmSync } from 'node:fs';
import gdal from 'gdal-async';
import { areaOf, polygonalParts, robustDifference, robustIntersection, unionAll } from '../core/polygons.js';
import { FlatGeobufReader, polygonWkb, type Box, type PropertyValue, type KeyedPolygon } from '../core/flatgeobuf.js';
import { FeatureList, hilbertOrder, unionOf, writeSortedFlatGeobuf } from '../core/flatgeobuf-writer.js';
import { PolygonBoundary } from '../core/segments.js';
import type { Repairs } from './geometry.js';

/**
 * Neighbours whose edges do not share their vertices exactly overlap by rounding (up to ~1e-6 m² in the
 * demo): below this, an overlap per pair is noise left to the overlay's tolerance, not a repair.
 */
const OVERLAP_MIN_M2 = 1e-4;
/** The last polygons read are kept for their neighbours, which the Hilbert order keeps close; older ones are read again. */
const CACHE = 4096;
/** Polygons read ahead at a time, in file order: neighbours along the curve are often close in the source too. */
const READ_AHEAD = 1024;

export interface Resolved {
  staged: number;
  areaM2: number;
  byCategory: Map<number, number>;
}

/**
 * Resolves the overlaps of the copied vintage `unsorted` and writes it to `staged`, sorted and indexed; `unsorted`
 * is removed.
 */
export function resolveOverlaps(unsorted: string, staged: string, repairs: Repairs): Resolved {
  // In memory: the check reads the copy in Hilbert order, then copies it feature by feature into the staged file.
  const reader = FlatGeobufReader.open(unsorted, { inMemory: true });
  const partsFile = `${staged}.parts.fgb`;
  try {
    const copied = readCopied(reader);
    const cuts = findCuts(reader, copied, repairs);
    return writeStaged(reader, copied, cuts, staged, partsFile);
  } finally {
    reader.close();
    rmSync(partsFile, { force: true });
    rmSync(unsorted, { force: true });
  }
}

/**
 * The copied features in index order (their rank): where each is, its box (minX, minY, maxX, maxY), category and area.
 * Columns, not an object per feature: millions of live objects would slow every major garbage collection.
 */
interface Copied {
  count: number;
  /** The union of the boxes: the extent the ranks and the box grid are laid over. */
  extent: Box;
  boxes: Float64Array;
  offsets: Float64Array;
  bytes: Uint32Array;
  categories: Int32Array;
  areas: Float64Array;
}

/** One pass over the copy, then its features ranked as a FlatGeobuf index orders them. */
function readCopied(reader: FlatGeobufReader): Copied {
  const categoryField = reader.columnIndex('category');
  const areaField = reader.columnIndex('area_m2');
  const count = reader.count;
  const inFile: Omit<Copied, 'extent'> = {
    count,
    boxes: new Float64Array(4 * count),
    offsets: new Float64Array(count),
    bytes: new Uint32Array(count),
    categories: new Int32Array(count),
    areas: new Float64Array(count),
  };
  for (const polygon of reader.featureBoxes(reader.columnMask(['category', 'area_m2']))) {
    const i = polygon.index;
    inFile.boxes[4 * i] = polygon.box.minX;
    inFile.boxes[4 * i + 1] = polygon.box.minY;
    inFile.boxes[4 * i + 2] = polygon.box.maxX;
    inFile.boxes[4 * i + 3] = polygon.box.maxY;
    inFile.offsets[i] = polygon.offset;
    inFile.bytes[i] = polygon.bytes;
    inFile.categories[i] = polygon.properties[categoryField] as number;
    inFile.areas[i] = polygon.properties[areaField] as number;
  }
  const extent = unionOf(inFile.boxes, count);
  const order = hilbertOrder(inFile.boxes, count, extent);
  const boxes = new Float64Array(4 * count);
  order.forEach((i, rank) => boxes.set(inFile.boxes.subarray(4 * i, 4 * i + 4), 4 * rank));
  const byRank = <T extends Float64Array | Uint32Array | Int32Array>(column: T): T => {
    const ranked = new (column.constructor as new (length: number) => T)(count);
    order.forEach((i, rank) => (ranked[rank] = column[i]!));
    return ranked;
  };
  return { count, extent, boxes, offsets: byRank(inFile.offsets), bytes: byRank(inFile.bytes), categories: byRank(inFile.categories), areas: byRank(inFile.areas) };
}

/** A cut polygon: what is left of it, and its fields to write with each part. */
interface Cut {
  parts: gdal.Polygon[];
  properties: PropertyValue[];
}

/** Rank → what is left of the polygon once earlier polygons are taken out (only for cut polygons). */
function findCuts(reader: FlatGeobufReader, copied: Copied, repairs: Repairs): Map<number, Cut> {
  const { count, extent, boxes, offsets } = copied;
  const cuts = new Map<number, Cut>();
  // Each polygon is checked against the earlier ones only: the grid receives a box once its polygon is checked.
  const earlierBoxes = new BoxGrid(extent, count);
  const boxOf = (k: number): Box => ({ minX: boxes[4 * k]!, minY: boxes[4 * k + 1]!, maxX: boxes[4 * k + 2]!, maxY: boxes[4 * k + 3]! });
  const at = (rank: number): { index: number; offset: number } => ({ index: rank, offset: offsets[rank]! });

  // The touch test and GEOS need the rings only; a cut polygon's fields are read again when it is cut.
  const noColumns = reader.columnMask([]);
  const recent = new Map<number, KeyedPolygon>();
  const geometries = new Map<number, gdal.Geometry>();
  const boundaries = new Map<number, PolygonBoundary>();
  // Polygons out of the cache (neighbours across a seam of the Hilbert curve) are read again, and not kept.
  const polygonOf = (j: number): KeyedPolygon => recent.get(j) ?? reader.readKeyed([at(j)], noColumns)[0]!;
  const geometryOf = (j: number): gdal.Geometry => {
    const cut = cuts.get(j);
    if (cut) return unionAll(cut.parts) ?? new gdal.Polygon();
    let geometry = geometries.get(j);
    if (!geometry) {
      geometry = gdal.Geometry.fromWKB(polygonWkb(polygonOf(j).rings));
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
      boundary = new PolygonBoundary(polygonOf(j).rings);
      if (recent.has(j)) boundaries.set(j, boundary);
    }
    return boundary;
  };
  for (let k = 0; k < count; k++) {
    if (k % READ_AHEAD === 0) {
      const ahead = Array.from({ length: Math.min(READ_AHEAD, count - k) }, (_, i) => at(k + i)).sort((a, b) => a.offset - b.offset);
      for (const polygon of reader.readKeyed(ahead, noColumns)) recent.set(polygon.index, polygon);
    }
    for (const evicted of [recent, geometries, boundaries]) evicted.delete(k - CACHE);
    const e = boxOf(k);
    const earlier = earlierBoxes
      .candidates(e, k)
      .filter((j) => overlapsBox(j, k))
      .sort((a, b) => a - b);
    earlierBoxes.add(e, k);
    const taken: gdal.Polygon[] = [];
    for (const j of earlier) {
      // Neighbours that provably only touch (the common case) spare a GEOS intersection.
      if (!cuts.has(j) && !boundaryOf(k).mayOverlap(boundaryOf(j))) continue;
      const other = geometryOf(j);
      if (areaOf(robustIntersection(geometryOf(k), other)) > OVERLAP_MIN_M2) taken.push(...polygonalParts(other));
    }
    if (taken.length === 0) continue;
    const geometry = geometryOf(k);
    const before = areaOf(geometry);
    const rest = polygonalParts(robustDifference(geometry, unionAll(taken)!));
    repairs.overlaps_resolved++;
    repairs.overlap_area_m2 += Math.max(0, before - rest.reduce((sum, part) => sum + part.getArea(), 0));
    cuts.set(k, { parts: rest, properties: reader.read([at(k)])[0]!.properties });
  }
  return cuts;
}

/**
 * Writes the staged file: the copied features as they are, each cut one replaced by its parts (one feature each,
 * encoded by GDAL in a side file), sorted and indexed; recounts the figures.
 */
function writeStaged(reader: FlatGeobufReader, copied: Copied, cuts: Map<number, Cut>, staged: string, partsFile: string): Resolved {
  const resolved: Resolved = { staged: 0, areaM2: 0, byCategory: new Map() };
  const count = (category: number, area: number): void => {
    resolved.staged++;
    resolved.areaM2 += area;
    resolved.byCategory.set(category, (resolved.byCategory.get(category) ?? 0) + area);
  };
  const parts = writeParts(reader, cuts, partsFile);
  try {
    const features = new FeatureList();
    const b = copied.boxes;
    for (let rank = 0; rank < copied.count; rank++) {
      const left = parts.byRank.get(rank);
      if (!left) {
        features.add(reader, { minX: b[4 * rank]!, minY: b[4 * rank + 1]!, maxX: b[4 * rank + 2]!, maxY: b[4 * rank + 3]! }, copied.offsets[rank]!, copied.bytes[rank]!);
        count(copied.categories[rank]!, copied.areas[rank]!);
        continue;
      }
      for (const part of left) {
        features.add(parts.reader!, part.box, part.offset, part.bytes);
        count(copied.categories[rank]!, part.area);
      }
    }
    writeSortedFlatGeobuf(staged, reader, features);
  } finally {
    parts.reader?.close();
  }
  return resolved;
}

interface Parts {
  /** The side file, open while its features are copied. */
  reader: FlatGeobufReader | null;
  /** Rank of a cut polygon → its parts in the side file (none for an exact duplicate). */
  byRank: Map<number, Array<{ box: Box; offset: number; bytes: number; area: number }>>;
}

/** The parts of the cut polygons, written by GDAL with the copy's schema (the area recomputed) and read back. */
function writeParts(reader: FlatGeobufReader, cuts: Map<number, Cut>, partsFile: string): Parts {
  const byRank: Parts['byRank'] = new Map();
  if (cuts.size === 0) return { reader: null, byRank };
  const areaField = reader.columnIndex('area_m2');
  const input = gdal.open(reader.file);
  const output = gdal.drivers.get('FlatGeobuf').create(partsFile);
  const ranks: number[] = [];
  try {
    const source = input.layers.get(0);
    const target = output.layers.create(source.name, source.srs, gdal.wkbPolygon, ['SPATIAL_INDEX=NO']);
    source.fields.forEach((field) => void target.fields.add(field));
    const out = new gdal.Feature(target);
    for (const [rank, cut] of [...cuts].sort((a, b) => a[0] - b[0])) {
      byRank.set(rank, []);
      for (const polygon of cut.parts) {
        const properties = [...cut.properties];
        properties[areaField] = polygon.getArea();
        out.fields.set(properties);
        out.setGeometry(polygon);
        target.features.add(out);
        ranks.push(rank);
      }
    }
  } finally {
    input.close();
    output.close();
  }
  if (ranks.length === 0) return { reader: null, byRank };
  const parts = FlatGeobufReader.open(partsFile);
  for (const polygon of parts.featureBoxes(parts.columnMask(['area_m2']))) {
    byRank.get(ranks[polygon.index]!)!.push({ box: polygon.box, offset: polygon.offset, bytes: polygon.bytes, area: polygon.properties[areaField] as number });
  }
  return { reader: parts, byRank };
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
