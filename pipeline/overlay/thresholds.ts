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
import { polygonCoordinates } from '../core/polygons.js';
import { trace, traceNear } from '../core/segments.js';
import { doubled } from '../core/typed-arrays.js';

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
  /** Its rings when known without GDAL (a staged polygon kept whole). */
  rings?: readonly Float64Array[];
  area: number;
  /** One class per vintage of the commune (null: not covered). */
  classes: Array<C | null>;
}

/** Boundaries within this distance (m) touch: overlay output is not noded exactly. */
const TOUCH_M = 1e-3;
/** Shared boundary from which two pieces are connected (m): corners and rounding contacts stay apart. */
const ADJACENT_M = 0.01;

/**
 * The stretches of the segment `Neighbourhood.of` is walking that lie near other pieces' segments, sorted by piece
 * then start: reused from segment to segment (a Map of arrays per segment kept the collector busy).
 */
let nearPiece = new Int32Array(64);
let nearLo = new Float64Array(64);
let nearHi = new Float64Array(64);

/** Inserts a stretch of piece j at its place by (piece, start); ties keep their order. Returns the new count. */
function addNearStretch(count: number, j: number, lo: number, hi: number): number {
  if (count === nearPiece.length) [nearPiece, nearLo, nearHi] = [doubled(nearPiece), doubled(nearLo), doubled(nearHi)];
  let at = count;
  for (; at > 0 && (nearPiece[at - 1]! > j || (nearPiece[at - 1] === j && nearLo[at - 1]! > lo)); at--) {
    nearPiece[at] = nearPiece[at - 1]!;
    nearLo[at] = nearLo[at - 1]!;
    nearHi[at] = nearHi[at - 1]!;
  }
  nearPiece[at] = j;
  nearLo[at] = lo;
  nearHi[at] = hi;
  return count + 1;
}

/**
 * Lazily computed neighbourhood of the commune's pieces: shared boundary lengths and whether a piece reaches the edge.
 * The boundary of piece i shared with piece j is the part of i's segments lying within TOUCH_M of j's segments,
 * computed on the coordinates (a GEOS buffer and intersection per pair cost a third of the overlay).
 */
class Neighbourhood {
  /** x1, y1, x2, y2 of every boundary segment of every piece. */
  private readonly segments: Float64Array;
  private readonly segmentPiece: Int32Array;
  /** Piece i's segments are firstSegment[i] … firstSegment[i + 1] − 1. */
  private readonly firstSegment: Int32Array;
  private readonly index: Flatbush;
  private readonly neighbours = new Map<number, number[]>();
  private readonly edge = new Map<number, boolean>();

  constructor(pieces: ReadonlyArray<Pick<ThresholdPiece<ThresholdClass>, 'geom' | 'rings'>>) {
    const rings = pieces.map((p) => p.rings ?? polygonCoordinates(p.geom));
    this.firstSegment = new Int32Array(pieces.length + 1);
    let count = 0;
    rings.forEach((piece, i) => {
      this.firstSegment[i] = count;
      for (const ring of piece) count += Math.max(0, ring.length / 2 - 1);
    });
    this.firstSegment[pieces.length] = count;
    const segments = (this.segments = new Float64Array(4 * count));
    this.segmentPiece = new Int32Array(count);
    this.index = new Flatbush(Math.max(count, 1));
    let n = 0;
    rings.forEach((piece, i) => {
      for (const ring of piece) {
        for (let v = 0; v + 3 < ring.length; v += 2) {
          const x1 = (segments[4 * n] = ring[v]!);
          const y1 = (segments[4 * n + 1] = ring[v + 1]!);
          const x2 = (segments[4 * n + 2] = ring[v + 2]!);
          const y2 = (segments[4 * n + 3] = ring[v + 3]!);
          this.segmentPiece[n] = i;
          this.index.add(Math.min(x1, x2) - TOUCH_M, Math.min(y1, y2) - TOUCH_M, Math.max(x1, x2) + TOUCH_M, Math.max(y1, y2) + TOUCH_M);
          n++;
        }
      }
    });
    if (count === 0) this.index.add(0, 0, 0, 0);
    this.index.finish();
  }

  /** Pieces sharing at least ADJACENT_M of boundary with piece i, in index order; also settles whether i reaches the edge. */
  of(i: number): number[] {
    const known = this.neighbours.get(i);
    if (known) return known;
    const sharedWith = new Map<number, number>();
    let perimeter = 0;
    const s = this.segments;
    for (let a = this.firstSegment[i]!; a < this.firstSegment[i + 1]!; a++) {
      const ax = s[4 * a]!;
      const ay = s[4 * a + 1]!;
      const bx = s[4 * a + 2]!;
      const by = s[4 * a + 3]!;
      const length = Math.hypot(bx - ax, by - ay);
      perimeter += length;
      if (length === 0) continue;
      // Stretches of this segment near each other piece, as parameter intervals along it.
      let near = 0;
      for (const b of this.index.search(Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by))) {
        const j = this.segmentPiece[b]!;
        if (j === i || !traceNear(ax, ay, bx, by, length, s[4 * b]!, s[4 * b + 1]!, s[4 * b + 2]!, s[4 * b + 3]!, TOUCH_M)) continue;
        near = addNearStretch(near, j, trace[0]!, trace[1]!);
      }
      // Per piece, the length of the union of its stretches: they are merged in order of their start.
      for (let n = 0; n < near; ) {
        const j = nearPiece[n]!;
        let lo = nearLo[n]!;
        let hi = nearHi[n]!;
        let union = 0;
        for (n++; n < near && nearPiece[n] === j; n++) {
          if (nearLo[n]! > hi) {
            union += hi - lo;
            lo = nearLo[n]!;
            hi = nearHi[n]!;
          } else hi = Math.max(hi, nearHi[n]!);
        }
        sharedWith.set(j, (sharedWith.get(j) ?? 0) + (union + hi - lo));
      }
    }
    const found = [...sharedWith].filter(([, length]) => length >= ADJACENT_M).map(([j]) => j).sort((x, y) => x - y);
    const shared = found.reduce((sum, j) => sum + sharedWith.get(j)!, 0);
    this.neighbours.set(i, found);
    // Pieces partition the commune: boundary not shared with another piece is the commune's edge.
    this.edge.set(i, perimeter - shared >= ADJACENT_M);
    return found;
  }

  onEdge(i: number): boolean {
    this.of(i);
    return this.edge.get(i)!;
  }
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
  const around = new Neighbourhood(pieces);
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
