import { GeoJSONVT, type GeoJSONVTFeature, type GeoJSONVTTile } from '@maplibre/geojson-vt';
import { fromGeojsonVt } from '@maplibre/vt-pbf';
import { describe, expect, it } from 'vitest';
import { encodeMvt } from '../pipeline/tiles/mvt.js';

const EXTENT = 4096;

/** A square of `size` degrees at (lon, lat), with a hole when asked. */
function square(lon: number, lat: number, size: number, hole: boolean): GeoJSON.Polygon {
  const ring = (x: number, y: number, s: number, clockwise: boolean): number[][] => {
    const corners = [[x, y], [x + s, y], [x + s, y + s], [x, y + s]];
    if (clockwise) corners.reverse();
    return [...corners, corners[0]!];
  };
  return { type: 'Polygon', coordinates: hole ? [ring(lon, lat, size, false), ring(lon + size / 4, lat + size / 4, size / 2, true)] : [ring(lon, lat, size, false)] };
}

/** Shared properties objects, as pieces of one class list share them, with every kind of value vt-pbf writes. */
const SHARED: GeoJSON.GeoJsonProperties[] = [
  { code_cs: 'CS1.1.1.1', code_us: 'US235', category: 2, artificialised: true },
  { code_cs: 'CS2.2.1', code_us: 'US1.1', category: 0, artificialised: false, destination: null },
  { kind: 'artificialisation', enaf: 'consumption', destination: 'habitat', from_category: 9, to_category: 1 },
];

function features(): GeoJSON.Feature[] {
  const out: GeoJSON.Feature[] = [];
  for (let i = 0; i < 60; i++) {
    const lon = 7.70 + (i % 10) * 0.004;
    const lat = 48.55 + Math.floor(i / 10) * 0.003;
    out.push({ type: 'Feature', id: 1000 + i, geometry: square(lon, lat, 0.0035, i % 7 === 0), properties: SHARED[i % SHARED.length]! });
  }
  // Territory-like features: no id, properties of their own (negative whole numbers, doubles, accents, NaN-free).
  out.push({ type: 'Feature', geometry: square(7.69, 48.54, 0.05, false), properties: { code: '67482', name: 'Strasbourg Œ é', area_ha: 7826.5, net_artif_ha: -3, share: 0.25 } });
  out.push({ type: 'Feature', geometry: square(7.71, 48.56, 0.01, false), properties: { code: '67043', name: 'Bischheim', area_ha: 412, net_artif_ha: 0, empty: null } });
  return out;
}

describe('MVT encoder', () => {
  it('writes the bytes of @maplibre/vt-pbf for the same tiles, several layers, shared and own properties', () => {
    const index = new GeoJSONVT({ type: 'FeatureCollection', features: features() }, { maxZoom: 14, indexMaxZoom: 0, extent: EXTENT, buffer: 64 });
    let compared = 0;
    // The tiles over the features' corner (7.70°E, 48.55°N), zooms 10 to 14, and a neighbour at 14.
    const tileOf = (z: number, lon: number, lat: number): [number, number, number] => {
      const n = 2 ** z;
      const rad = (lat * Math.PI) / 180;
      return [z, Math.floor(((lon + 180) / 360) * n), Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n)];
    };
    const tiles = [10, 11, 12, 13, 14].map((z) => tileOf(z, 7.701, 48.551));
    tiles.push([14, tiles[4]![1] + 1, tiles[4]![2]]);
    for (const [z, x, y] of tiles) {
      const tile = index.getTile(z, x, y) as GeoJSONVTTile | null;
      if (!tile || tile.features.length === 0) continue;
      // Two layers from one tile: all features, and every other one (as a piece layer holds a subset of the pieces).
      const half = tile.features.filter((_: GeoJSONVTFeature, i: number) => i % 2 === 0);
      const reference = fromGeojsonVt({ a_all: tile, b_half: { ...tile, features: half } }, { version: 2, extent: EXTENT });
      const ours = encodeMvt(
        [
          { name: 'a_all', features: tile.features, properties: tile.features.map((f: GeoJSONVTFeature) => f.tags) },
          { name: 'b_half', features: half, properties: half.map((f: GeoJSONVTFeature) => f.tags) },
        ],
        EXTENT,
      );
      expect(Buffer.from(ours).equals(Buffer.from(reference))).toBe(true);
      compared++;
    }
    expect(compared).toBe(tiles.length);
  });
});
