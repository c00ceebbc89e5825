import { describe, expect, it } from 'vitest';
import { PolygonBoundary, stretchNear } from '../pipeline/core/segments.js';

/** A polygon's boundary from closed rings of [x, y] points. */
const boundary = (...rings: Array<Array<[number, number]>>): PolygonBoundary =>
  new PolygonBoundary(rings.map((ring) => Float64Array.from([...ring, ring[0]!].flat())));
const square = (x: number, y: number, size: number): Array<[number, number]> => [[x, y], [x + size, y], [x + size, y + size], [x, y + size]];
/** Lambert-93-sized coordinates, where rounding is real. */
const X = 1_050_000;
const Y = 6_840_000;

describe('stretchNear', () => {
  it('gives the stretch of a segment running along another within the tolerance', () => {
    const [lo, hi] = stretchNear(0, 0, 10, 0, 10, 2, 0.0005, 5, 0.0005, 1e-3)!;
    expect(lo).toBeCloseTo(2 - Math.sqrt(1e-6 - 0.0005 ** 2), 9);
    expect(hi).toBeCloseTo(5 + Math.sqrt(1e-6 - 0.0005 ** 2), 9);
  });
  it('finds the disc at a shared vertex 173 m along a segment, where |w|² rounds at the scale of tolerance²', () => {
    // Real coordinates (an overlay piece): b→c, and the other polygon's edge d→c ending at the same vertex c.
    const [bx, by, cx, cy, dx, dy] = [1033686.6683219715, 6835648.9821145851, 1033662.2013593231, 6835477.6173245264, 1033467.2883757942, 6835459.765524203];
    const length = Math.hypot(cx - bx, cy - by);
    const [lo, hi] = stretchNear(bx, by, cx, cy, length, dx, dy, cx, cy, 1e-6)!;
    expect(hi).toBe(length);
    expect(length - lo).toBeCloseTo(1e-6, 9);
  });
  it('gives nothing for a segment farther than the tolerance, and a point for a crossing', () => {
    expect(stretchNear(0, 0, 10, 0, 10, 2, 0.01, 5, 0.01, 1e-3)).toBeNull();
    const [lo, hi] = stretchNear(0, 0, 10, 0, 10, 5, -1, 5, 1, 1e-3)!;
    expect(hi - lo).toBeCloseTo(2e-3, 9);
  });
});

describe('PolygonBoundary.mayOverlap (ingest overlap filter)', () => {
  it('clears neighbours sharing an edge, also when one side has an extra vertex on it', () => {
    expect(boundary(square(X, Y, 10)).mayOverlap(boundary(square(X + 10, Y, 10)))).toBe(false);
    const tJunction: Array<[number, number]> = [[X + 10, Y], [X + 20, Y], [X + 20, Y + 10], [X + 10, Y + 10], [X + 10, Y + 3.3]];
    expect(boundary(square(X, Y, 10)).mayOverlap(boundary(tJunction))).toBe(false);
  });
  it('flags shifted, contained and duplicated polygons', () => {
    expect(boundary(square(X, Y, 10)).mayOverlap(boundary(square(X + 9.5, Y, 10)))).toBe(true);
    expect(boundary(square(X, Y, 10)).mayOverlap(boundary(square(X + 2, Y + 2, 3)))).toBe(true);
    expect(boundary(square(X, Y, 10)).mayOverlap(boundary(square(X, Y, 10)))).toBe(true);
  });
  it('flags a near duplicate whose vertices differ by rounding (a piece of the overlay and the polygon it came from)', () => {
    // Real coordinates: an overlay piece and the vintage polygon it equals, one vertex 1.3e-9 m and one 5e-10 m apart.
    const piece: Array<[number, number]> = [[1033684.3865364462, 6835648.4989398792], [1033686.6683219715, 6835648.9821145851], [1033662.2013593231, 6835477.6173245264], [1033467.2883757947, 6835459.765524203]];
    const polygon: Array<[number, number]> = [[1033684.3865364449, 6835648.4989398792], [1033467.2883757942, 6835459.765524203], [1033662.2013593231, 6835477.6173245264], [1033686.6683219715, 6835648.9821145851]];
    expect(boundary(piece).mayOverlap(boundary(polygon))).toBe(true);
  });
  it('flags every polygon against its copy moved by 1e-9 m (a duplicate re-digitised or rounded elsewhere)', () => {
    let seed = 7;
    const random = (): number => ((seed = (seed * 48271) % 2147483647) / 2147483647);
    const missed: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const [x, y, size] = [X + 1000 * random(), Y + 1000 * random(), 5 + 300 * random()];
      const quad: Array<[number, number]> = [[x, y], [x + size, y + size * random()], [x + size * random(), y + size], [x - size * random(), y + size * random()]];
      const moved = quad.map(([px, py]): [number, number] => [px - 1e-9, py + 1e-9]);
      if (!boundary(quad).mayOverlap(boundary(moved))) missed.push(i);
    }
    expect(missed).toEqual([]);
  });
  it('flags a triangle spanning a square corner to corner (no vertex strictly inside, no proper crossing)', () => {
    expect(boundary(square(X, Y, 10)).mayOverlap(boundary([[X, Y], [X + 10, Y], [X + 10, Y + 10]]))).toBe(true);
  });
  it('cannot clear an island filling a hole (its whole boundary runs along the other), so it asks GEOS', () => {
    expect(boundary(square(X, Y, 30), square(X + 10, Y + 10, 10)).mayOverlap(boundary(square(X + 10, Y + 10, 10)))).toBe(true);
  });
  it('gives the same answers along a long many-vertex polygon (a road), whose runs of segments are skipped by their boxes', () => {
    // A wavy strip of 2 × 400 vertices and squares hanging from its lower edge: exact neighbours, one pushed 1 m into
    // the strip, and one inside the strip's hole.
    const edge = (i: number): [number, number] => [X + 2 * i, Y + 3 * Math.sin(i / 7)];
    const strip: Array<[number, number]> = [];
    for (let i = 0; i <= 400; i++) strip.push(edge(i));
    for (let i = 400; i >= 0; i--) strip.push([edge(i)[0], edge(i)[1] + 10]);
    const hole: Array<[number, number]> = [[X + 400, Y + 5], [X + 404, Y + 5], [X + 404, Y + 6], [X + 400, Y + 6]];
    const road = boundary(strip, hole);
    const hanging = (from: number, lift = 0): PolygonBoundary => {
      const ring: Array<[number, number]> = [];
      for (let i = from; i <= from + 20; i++) ring.push([edge(i)[0], edge(i)[1] + lift]);
      return boundary([...ring, [X + 2 * (from + 20), Y - 20], [X + 2 * from, Y - 20]]);
    };
    for (const from of [0, 37, 180, 380]) expect(hanging(from).mayOverlap(road)).toBe(false);
    expect(hanging(180, 1).mayOverlap(road)).toBe(true);
    expect(road.mayOverlap(boundary(square(X + 401, Y + 5.2, 0.5)))).toBe(false);
    expect(road.mayOverlap(boundary(square(X + 300, Y + 4, 1)))).toBe(true);
  });
});
