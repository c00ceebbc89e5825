/**
 * Segment geometry on raw coordinates, for tests GEOS would answer only through costlier overlays: which stretch
 * of a segment runs within a tolerance of another segment (shared boundaries of neighbouring polygons), and
 * whether two polygons of a partition only touch.
 *
 * @example
 *   stretchNear(0, 0, 10, 0, 10, 2, 0.0005, 5, 0.0005, 1e-3); // [1.99…, 5.00…]: along 2 → 5 of the first segment
 *   new PolygonBoundary(polygonCoordinates(a)).mayOverlap(new PolygonBoundary(polygonCoordinates(b))); // false: they only touch
 */
import { doubled } from './typed-arrays.js';

/**
 * The stretch [u0, u1] (distances from (ax, ay)) of segment a→b lying within `tolerance` of segment p→q, or null. The
 * points within `tolerance` of p→q form a capsule, which is convex: its trace on the segment is one interval, the hull of
 * the traces of its rectangle and of its two end discs.
 */
export function stretchNear(
  ax: number, ay: number, bx: number, by: number, length: number,
  px: number, py: number, qx: number, qy: number, tolerance: number,
): [number, number] | null {
  return traceNear(ax, ay, bx, by, length, px, py, qx, qy, tolerance) ? [trace[0]!, trace[1]!] : null;
}

/** Where `traceNear` leaves the stretch it found: [u0, u1], until its next call. */
export const trace = new Float64Array(2);

/**
 * `stretchNear` without allocation, for the millions of segment pairs of the touch test and the threshold rules'
 * neighbourhoods: whether there is a stretch, left in `trace`.
 */
export function traceNear(
  ax: number, ay: number, bx: number, by: number, length: number,
  px: number, py: number, qx: number, qy: number, tolerance: number,
): boolean {
  const dx = (bx - ax) / length;
  const dy = (by - ay) / length;
  let lo = Infinity;
  let hi = -Infinity;
  // The two end discs: where |w + u·d| ≤ tolerance, w the segment start minus the disc centre. The chord is
  // found from the centre's distance to the line (a cross product), not as a difference of squared lengths: a
  // disc 100 m along the segment has |w|² ≈ 1e4, whose rounding (~1e-12) is the size of tolerance² itself.
  for (let end = 0; end < 2; end++) {
    const wx = ax - (end === 0 ? px : qx);
    const wy = ay - (end === 0 ? py : qy);
    const centre = -(wx * dx + wy * dy);
    const offLine = wx * dy - wy * dx;
    const squared = tolerance * tolerance - offLine * offLine;
    if (squared < 0) continue;
    const root = Math.sqrt(squared);
    lo = Math.min(lo, centre - root);
    hi = Math.max(hi, centre + root);
  }
  const m = Math.hypot(qx - px, qy - py);
  if (m > 0) {
    const ex = (qx - px) / m;
    const ey = (qy - py) / m;
    // Along p→q: t(u) = t0 + u·t1 within [0, m]; across it: c(u) = c0 + u·c1 within ±tolerance.
    const wx = ax - px;
    const wy = ay - py;
    const t0 = wx * ex + wy * ey;
    const t1 = dx * ex + dy * ey;
    const c0 = ex * wy - ey * wx;
    const c1 = ex * dy - ey * dx;
    let alongFrom = -Infinity;
    let alongTo = Infinity;
    let acrossFrom = -Infinity;
    let acrossTo = Infinity;
    let inside = true;
    if (t1 === 0) inside = t0 >= 0 && t0 <= m;
    else {
      const a = (0 - t0) / t1;
      const b = (m - t0) / t1;
      alongFrom = Math.min(a, b);
      alongTo = Math.max(a, b);
    }
    if (c1 === 0) inside &&= c0 >= -tolerance && c0 <= tolerance;
    else {
      const a = (-tolerance - c0) / c1;
      const b = (tolerance - c0) / c1;
      acrossFrom = Math.min(a, b);
      acrossTo = Math.max(a, b);
    }
    const from = Math.max(alongFrom, acrossFrom);
    const to = Math.min(alongTo, acrossTo);
    if (inside && from <= to) {
      lo = Math.min(lo, from);
      hi = Math.max(hi, to);
    }
  }
  lo = Math.max(lo, 0);
  hi = Math.min(hi, length);
  if (!(lo < hi)) return false;
  trace[0] = lo;
  trace[1] = hi;
  return true;
}

/**
 * Within this distance (m) boundaries count as shared: neighbours whose edges do not share their vertices exactly.
 * A sliver overlap thinner than this along a shared edge goes unseen here; the overlay resolves overlaps itself.
 */
export const SHARED_M = 1e-6;

/** The near stretches of the segment last given to `nearStretches` (lo, hi pairs), reused from call to call. */
let nearby: Float64Array = new Float64Array(64);

/** Consecutive segments per box in `PolygonBoundary` (measured: see docs/PERFORMANCE.md). */
const CHUNK = 16;

/**
 * A polygon's rings for the touch test: two polygons of a valid partition overlap only if a stretch of one's boundary
 * farther than SHARED_M from the other's boundary lies inside the other. Each such stretch is wholly inside or
 * outside (it cannot cross the other boundary without coming near it), so one point-in-polygon test settles it.
 * When every boundary stretch of one polygon lies along the other's (a duplicate, an island in a hole), it cannot
 * tell, and says "may overlap".
 */
export class PolygonBoundary {
  readonly minX: number;
  readonly minY: number;
  readonly maxX: number;
  readonly maxY: number;
  /**
   * Per ring, the box of each run of CHUNK consecutive segments (minX, minY, maxX, maxY): a run whose box misses a
   * query is skipped whole, which makes the pairwise segment scans of large polygons close to linear.
   */
  private readonly chunkBoxes: Float64Array[];

  constructor(readonly rings: Float64Array[]) {
    let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
    this.chunkBoxes = rings.map((ring) => {
      const segments = ring.length / 2 - 1;
      const boxes = new Float64Array(4 * Math.max(0, Math.ceil(segments / CHUNK)));
      for (let c = 0; c < boxes.length / 4; c++) {
        let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
        const last = Math.min((c + 1) * CHUNK, segments);
        for (let v = 2 * c * CHUNK; v <= 2 * last; v += 2) {
          x0 = Math.min(x0, ring[v]!);
          x1 = Math.max(x1, ring[v]!);
          y0 = Math.min(y0, ring[v + 1]!);
          y1 = Math.max(y1, ring[v + 1]!);
        }
        boxes[4 * c] = x0;
        boxes[4 * c + 1] = y0;
        boxes[4 * c + 2] = x1;
        boxes[4 * c + 3] = y1;
      }
      for (let v = 0; v < ring.length; v += 2) {
        minX = Math.min(minX, ring[v]!);
        maxX = Math.max(maxX, ring[v]!);
        minY = Math.min(minY, ring[v + 1]!);
        maxY = Math.max(maxY, ring[v + 1]!);
      }
      return boxes;
    });
    [this.minX, this.minY, this.maxX, this.maxY] = [minX, minY, maxX, maxY];
  }

  /** False when the interiors are disjoint (beyond SHARED_M); true when they overlap or it cannot tell. */
  mayOverlap(other: PolygonBoundary): boolean {
    return this.entersOrHugs(other) || other.entersOrHugs(this);
  }

  /** Whether some stretch of this boundary far from `other`'s lies inside it, or none is far from it. */
  private entersOrHugs(other: PolygonBoundary): boolean {
    let farStretches = 0;
    const x0 = other.minX - SHARED_M;
    const x1 = other.maxX + SHARED_M;
    const y0 = other.minY - SHARED_M;
    const y1 = other.maxY + SHARED_M;
    for (let r = 0; r < this.rings.length; r++) {
      const ring = this.rings[r]!;
      const chunks = this.chunkBoxes[r]!;
      for (let v = 0; v + 3 < ring.length; v += 2) {
        if (v % (2 * CHUNK) === 0) {
          const c = (4 * v) / (2 * CHUNK);
          // A run beyond the other's box (and margin): every segment of it is a far stretch, as below.
          if (chunks[c + 2]! < x0 || chunks[c]! > x1 || chunks[c + 3]! < y0 || chunks[c + 1]! > y1) {
            const end = Math.min(v + 2 * CHUNK, ring.length - 2);
            farStretches += (end - v) / 2;
            v = end - 2;
            continue;
          }
        }
        const ax = ring[v]!;
        const ay = ring[v + 1]!;
        const bx = ring[v + 2]!;
        const by = ring[v + 3]!;
        // A segment beyond the other's box (and margin) lies outside it, far from its boundary.
        if (Math.max(ax, bx) < x0 || Math.min(ax, bx) > x1 || Math.max(ay, by) < y0 || Math.min(ay, by) > y1) {
          farStretches++;
          continue;
        }
        const length = Math.hypot(bx - ax, by - ay);
        if (length === 0) continue;
        const near = other.nearStretches(ax, ay, bx, by, length);
        let from = 0;
        for (let i = 0; i < near; i++) {
          const lo = nearby[2 * i]!;
          const hi = nearby[2 * i + 1]!;
          if (lo > from && other.containsStretch(ax, ay, bx, by, length, from, lo)) return true;
          if (lo > from) farStretches++;
          from = Math.max(from, hi);
        }
        if (from < length) {
          if (other.containsStretch(ax, ay, bx, by, length, from, length)) return true;
          farStretches++;
        }
      }
    }
    return farStretches === 0;
  }

  /**
   * Stretches [lo, hi] of segment a→b (distances from a) within SHARED_M of this boundary, sorted and merged: their
   * count, the stretches left in `nearby` (lo, hi pairs), which the caller reads before the next call.
   */
  private nearStretches(ax: number, ay: number, bx: number, by: number, length: number): number {
    let count = 0;
    const x0 = Math.min(ax, bx) - SHARED_M;
    const x1 = Math.max(ax, bx) + SHARED_M;
    const y0 = Math.min(ay, by) - SHARED_M;
    const y1 = Math.max(ay, by) + SHARED_M;
    for (let r = 0; r < this.rings.length; r++) {
      const ring = this.rings[r]!;
      const chunks = this.chunkBoxes[r]!;
      for (let v = 0; v + 3 < ring.length; v += 2) {
        if (v % (2 * CHUNK) === 0) {
          const c = (4 * v) / (2 * CHUNK);
          // No segment of a run whose box misses the query box passes the test below.
          if (chunks[c + 2]! < x0 || chunks[c]! > x1 || chunks[c + 3]! < y0 || chunks[c + 1]! > y1) {
            v += 2 * CHUNK - 2;
            continue;
          }
        }
        const px = ring[v]!;
        const py = ring[v + 1]!;
        const qx = ring[v + 2]!;
        const qy = ring[v + 3]!;
        if (Math.max(px, qx) < x0 || Math.min(px, qx) > x1 || Math.max(py, qy) < y0 || Math.min(py, qy) > y1) continue;
        if (!traceNear(ax, ay, bx, by, length, px, py, qx, qy, SHARED_M)) continue;
        if (2 * count + 2 > nearby.length) nearby = doubled(nearby);
        // Insertion by lo: a segment meets few stretches of a boundary.
        let at = count++;
        for (; at > 0 && nearby[2 * at - 2]! > trace[0]!; at--) {
          nearby[2 * at] = nearby[2 * at - 2]!;
          nearby[2 * at + 1] = nearby[2 * at - 1]!;
        }
        nearby[2 * at] = trace[0]!;
        nearby[2 * at + 1] = trace[1]!;
      }
    }
    let merged = 0;
    for (let i = 0; i < count; i++) {
      const lo = nearby[2 * i]!;
      const hi = nearby[2 * i + 1]!;
      if (merged > 0 && lo <= nearby[2 * merged - 1]!) nearby[2 * merged - 1] = Math.max(nearby[2 * merged - 1]!, hi);
      else {
        nearby[2 * merged] = lo;
        nearby[2 * merged + 1] = hi;
        merged++;
      }
    }
    return merged;
  }

  /** Whether the stretch [from, to] of segment a→b, far from this boundary, lies inside this polygon (its midpoint does). */
  private containsStretch(ax: number, ay: number, bx: number, by: number, length: number, from: number, to: number): boolean {
    const t = (from + to) / 2 / length;
    const x = ax + t * (bx - ax);
    const y = ay + t * (by - ay);
    if (x < this.minX || x > this.maxX || y < this.minY || y > this.maxY) return false;
    // Even-odd crossing count over every ring: holes count as outside.
    let inside = false;
    for (let r = 0; r < this.rings.length; r++) {
      const ring = this.rings[r]!;
      const chunks = this.chunkBoxes[r]!;
      for (let v = 0; v + 3 < ring.length; v += 2) {
        if (v % (2 * CHUNK) === 0) {
          const c = (4 * v) / (2 * CHUNK);
          // A run wholly above y, or wholly at or below it, has no edge crossing y.
          if (chunks[c + 1]! > y || chunks[c + 3]! <= y) {
            v += 2 * CHUNK - 2;
            continue;
          }
        }
        const y1 = ring[v + 1]!;
        const y2 = ring[v + 3]!;
        if (y1 > y !== y2 > y && x < ring[v]! + ((y - y1) / (y2 - y1)) * (ring[v + 2]! - ring[v]!)) inside = !inside;
      }
    }
    return inside;
  }
}
