/**
 * Threshold rules of décret 2023-1096 (../shared/reference/FORMATS.md §4) for vintages classified by the CS × US
 * matrix, applied per commune on its atomic pieces, vintage by vintage:
 * - a *patch* is a connected group of pieces with the same status (artificialised or not) at that vintage; two pieces
 *   are connected when they share a stretch of boundary at least ADJACENT_M long (a corner is not enough);
 * - a patch is *enclosed* when every piece around it has the other status: a patch next to a piece without data at
 *   that vintage, or reaching the commune's edge (the land beyond belongs to another commune's computation, which
 *   this one never reads, so that results do not depend on partitions), is not enclosed and keeps its class;
 * - an enclosed non-artificialised patch under `patchMaxM2` becomes artificialised; an enclosed artificialised patch
 *   under `patchMaxM2` becomes non-artificialised, except its built surfaces (`buildingCs`) forming a connected group
 *   of at least `buildingMinM2`, which stay artificialised.
 * Only pieces whose class came from the matrix change; they get artif_rule 'threshold' and the category of their
 * CS × US pair on the other side (the nomenclature's `official` overrides). Vintages whose class came from IGN's
 * `artif` field already carry these rules and are left alone.
 *
 * @example
 * const { classes, area_m2 } = applyThresholds(pieces, loadZanRules().thresholds, (cls, artificialised) => ({ ...cls, artificialised, … }));
 */
import gdal from 'gdal-async';
import Flatbush from 'flatbush';

export interface ThresholdRules {
  patchMaxM2: number;
  buildingCs: readonly string[];
  buildingMinM2: number;
}

export interface ThresholdClass {
  code_cs: string;
  artificialised: boolean;
  artif_rule: string;
}

export interface ThresholdPiece<C extends ThresholdClass> {
  geom: gdal.Polygon;
  area: number;
  /** One class per vintage of the commune (null: not covered). */
  classes: Array<C | null>;
}

/** Boundaries within this distance (m) touch: overlay output is not noded exactly. */
const TOUCH_M = 1e-3;
/** Shared boundary from which two pieces are connected (m): corners and rounding contacts stay apart. */
const ADJACENT_M = 0.01;

/** Lazily computed neighbourhood of the commune's pieces: shared boundary lengths and whether a piece reaches the edge. */
class Neighbourhood {
  private readonly index: Flatbush;
  private readonly neighbours = new Map<number, number[]>();
  private readonly edge = new Map<number, boolean>();
  private readonly buffered = new Map<number, gdal.Geometry>();

  constructor(private readonly geoms: readonly gdal.Polygon[]) {
    this.index = new Flatbush(Math.max(geoms.length, 1));
    for (const g of geoms) {
      const e = g.getEnvelope();
      this.index.add(e.minX - TOUCH_M, e.minY - TOUCH_M, e.maxX + TOUCH_M, e.maxY + TOUCH_M);
    }
    if (geoms.length === 0) this.index.add(0, 0, 0, 0);
    this.index.finish();
  }

  private buffer(i: number): gdal.Geometry {
    let b = this.buffered.get(i);
    if (!b) {
      b = this.geoms[i]!.buffer(TOUCH_M, 2);
      this.buffered.set(i, b);
    }
    return b;
  }

  /** Pieces sharing at least ADJACENT_M of boundary with piece i, in index order; also settles whether i reaches the edge. */
  of(i: number): number[] {
    const known = this.neighbours.get(i);
    if (known) return known;
    const g = this.geoms[i]!;
    const e = g.getEnvelope();
    const boundary = g.boundary();
    const found: number[] = [];
    let shared = 0;
    for (const j of this.index.search(e.minX, e.minY, e.maxX, e.maxY).sort((a, b) => a - b)) {
      if (j === i || g.distance(this.geoms[j]!) > TOUCH_M) continue;
      const length = lineLength(boundary.intersection(this.buffer(j)));
      if (length < ADJACENT_M) continue;
      found.push(j);
      shared += length;
    }
    this.neighbours.set(i, found);
    // Pieces partition the commune: boundary not shared with another piece is the commune's edge.
    this.edge.set(i, lineLength(boundary) - shared >= ADJACENT_M);
    return found;
  }

  onEdge(i: number): boolean {
    this.of(i);
    return this.edge.get(i)!;
  }
}

function lineLength(geometry: gdal.Geometry): number {
  if (geometry.isEmpty()) return 0;
  if (geometry instanceof gdal.LineString) return geometry.getLength();
  if (geometry instanceof gdal.GeometryCollection) {
    let total = 0;
    for (const child of geometry.children) total += lineLength(child);
    return total;
  }
  return 0;
}

/**
 * Applies the threshold rules to every matrix-classified vintage of one commune's pieces, in place.
 * `reclassify(cls, artificialised)` gives the class of the same CS × US pair on the other side.
 * Returns how many (piece, vintage) classes changed and their area.
 */
export function applyThresholds<C extends ThresholdClass>(
  pieces: Array<ThresholdPiece<C>>,
  rules: ThresholdRules,
  reclassify: (cls: C, artificialised: boolean) => C,
): { classes: number; area_m2: number } {
  const vintages = Math.max(0, ...pieces.map((p) => p.classes.length));
  const around = new Neighbourhood(pieces.map((p) => p.geom));
  const changed = { classes: 0, area_m2: 0 };
  for (let k = 0; k < vintages; k++) {
    if (!pieces.some((p) => p.classes[k]?.artif_rule === 'matrix')) continue;
    // null: no data (or unclassified) at this vintage, which never encloses anything.
    const status = pieces.map((p) => {
      const cls = p.classes[k];
      return cls && cls.artif_rule !== 'unclassified' ? cls.artificialised : null;
    });
    const big = new Set<number>();
    const done = new Set<number>();
    for (let start = 0; start < pieces.length; start++) {
      if (status[start] === null || done.has(start) || big.has(start)) continue;
      const patch = growPatch(start, pieces, status, around, rules.patchMaxM2, big);
      for (const i of patch.members) done.add(i);
      if (!patch.small) {
        for (const i of patch.members) big.add(i);
        continue;
      }
      if (!patch.enclosed) continue;
      const from = status[start]!;
      const keep = from ? keptBuildings(patch.members, pieces, k, around, rules) : new Set<number>();
      for (const i of patch.members) {
        const cls = pieces[i]!.classes[k]!;
        if (keep.has(i) || cls.artif_rule !== 'matrix') continue;
        pieces[i]!.classes[k] = reclassify(cls, !from);
        changed.classes++;
        changed.area_m2 += pieces[i]!.area;
      }
    }
  }
  return changed;
}

/** The patch holding `start`, grown until it reaches the area limit (then `small` is false). */
function growPatch<C extends ThresholdClass>(
  start: number,
  pieces: Array<ThresholdPiece<C>>,
  status: Array<boolean | null>,
  around: Neighbourhood,
  limit: number,
  big: ReadonlySet<number>,
): { members: number[]; small: boolean; enclosed: boolean } {
  const members = [start];
  const seen = new Set([start]);
  let area = pieces[start]!.area;
  let enclosed = true;
  let surrounded = false;
  for (let n = 0; n < members.length; n++) {
    if (area >= limit) return { members, small: false, enclosed: false };
    const i = members[n]!;
    if (around.onEdge(i)) enclosed = false;
    for (const j of around.of(i)) {
      if (status[j] === null) enclosed = false;
      else if (status[j] !== status[start]) surrounded = true;
      else if (!seen.has(j)) {
        if (big.has(j)) return { members, small: false, enclosed: false };
        seen.add(j);
        members.push(j);
        area += pieces[j]!.area;
      }
    }
  }
  return { members, small: area < limit, enclosed: enclosed && surrounded };
}

/** Built pieces of an artificialised patch forming connected groups of at least buildingMinM2: they stay. */
function keptBuildings<C extends ThresholdClass>(
  members: number[],
  pieces: Array<ThresholdPiece<C>>,
  k: number,
  around: Neighbourhood,
  rules: ThresholdRules,
): Set<number> {
  const built = new Set(members.filter((i) => rules.buildingCs.includes(pieces[i]!.classes[k]!.code_cs)));
  const keep = new Set<number>();
  const grouped = new Set<number>();
  for (const start of built) {
    if (grouped.has(start)) continue;
    const group = [start];
    grouped.add(start);
    for (let n = 0; n < group.length; n++) {
      for (const j of around.of(group[n]!)) {
        if (built.has(j) && !grouped.has(j)) {
          grouped.add(j);
          group.push(j);
        }
      }
    }
    if (group.reduce((s, i) => s + pieces[i]!.area, 0) >= rules.buildingMinM2) for (const i of group) keep.add(i);
  }
  return keep;
}
