import { tileYToLat } from '../../pipeline/tiles/geo.js';
import type { Archive } from './pmtiles-dump.js';

/** Signed area of a ring clipped to the tile square (MVT exterior rings are positive, holes negative). */
function clippedRingArea(ring: Array<{ x: number; y: number }>, extent: number): number {
  let pts = ring.map((p) => [p.x, p.y] as [number, number]);
  const edges: Array<[(p: [number, number]) => boolean, (a: [number, number], b: [number, number]) => [number, number]]> = [
    [(p) => p[0] >= 0, (a, b) => [0, a[1] + ((b[1] - a[1]) * (0 - a[0])) / (b[0] - a[0])]],
    [(p) => p[0] <= extent, (a, b) => [extent, a[1] + ((b[1] - a[1]) * (extent - a[0])) / (b[0] - a[0])]],
    [(p) => p[1] >= 0, (a, b) => [a[0] + ((b[0] - a[0]) * (0 - a[1])) / (b[1] - a[1]), 0]],
    [(p) => p[1] <= extent, (a, b) => [a[0] + ((b[0] - a[0]) * (extent - a[1])) / (b[1] - a[1]), extent]],
  ];
  for (const [inside, cut] of edges) {
    const next: Array<[number, number]> = [];
    for (let i = 0; i < pts.length; i++) {
      const a = pts[i]!;
      const b = pts[(i + 1) % pts.length]!;
      if (inside(a)) {
        next.push(a);
        if (!inside(b)) next.push(cut(a, b));
      } else if (inside(b)) next.push(cut(a, b));
    }
    pts = next;
  }
  let twice = 0;
  for (let i = 0; i < pts.length; i++) {
    const a = pts[i]!;
    const b = pts[(i + 1) % pts.length]!;
    twice += a[0] * b[1] - b[0] * a[1];
  }
  return twice / 2;
}

/** Ground area (m²) of a layer over all tiles of zoom z: Web Mercator area × cos²(latitude). */
export function layerAreaM2(a: Archive, layerName: string, z: number): number {
  const worldMetres = 2 * Math.PI * 6_378_137;
  let total = 0;
  for (const { z: tz, y, tile } of a.tiles) {
    if (tz !== z || !tile.layers[layerName]) continue;
    const layer = tile.layers[layerName]!;
    const unit = worldMetres / 2 ** z / layer.extent;
    for (let i = 0; i < layer.length; i++) {
      for (const ring of layer.feature(i).loadGeometry()) {
        const cy = ring.reduce((s, p) => s + p.y, 0) / ring.length;
        const lat = (tileYToLat(y + cy / layer.extent, z) * Math.PI) / 180;
        total += clippedRingArea(ring, layer.extent) * unit * unit * Math.cos(lat) ** 2;
      }
    }
  }
  return total;
}
