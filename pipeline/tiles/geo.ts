/**
 * Geometry helpers for tiling: Web Mercator tile maths, and the EPSG:2154 → lon/lat transform (OGC:CRS84, so longitude comes first whatever the
 * GDAL axis-order defaults).
 */
import gdal from 'gdal-async';
import { type BBox, wkbToGeoJSON } from '../core/wkb.js';

export const MAX_MERCATOR_LAT = 85.0511287798066;

export function lonToTileX(lon: number, z: number): number {
  return ((lon + 180) / 360) * 2 ** z;
}

export function latToTileY(lat: number, z: number): number {
  const clamped = Math.max(-MAX_MERCATOR_LAT, Math.min(MAX_MERCATOR_LAT, lat));
  const rad = (clamped * Math.PI) / 180;
  return ((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * 2 ** z;
}

export function tileXToLon(x: number, z: number): number {
  return (x / 2 ** z) * 360 - 180;
}

export function tileYToLat(y: number, z: number): number {
  const n = Math.PI - (2 * Math.PI * y) / 2 ** z;
  return (180 / Math.PI) * Math.atan(Math.sinh(n));
}

/** [west, south, east, north] of tile z/x/y, optionally grown by `buffer` tile widths on each side. */
export function tileBounds(z: number, x: number, y: number, buffer = 0): BBox {
  return [tileXToLon(x - buffer, z), tileYToLat(y + 1 + buffer, z), tileXToLon(x + 1 + buffer, z), tileYToLat(y - buffer, z)];
}

/** Inclusive tile ranges at zoom z covered by a lon/lat box. */
export function tileRange(box: BBox, z: number): { minX: number; minY: number; maxX: number; maxY: number } {
  const last = 2 ** z - 1;
  const clamp = (v: number): number => Math.max(0, Math.min(last, Math.floor(v)));
  return { minX: clamp(lonToTileX(box[0], z)), maxX: clamp(lonToTileX(box[2], z)), minY: clamp(latToTileY(box[3], z)), maxY: clamp(latToTileY(box[1], z)) };
}

/** Reprojection between Lambert-93 and lon/lat (traditional GIS order). */
export class Lambert93 {
  private readonly toLonLat: gdal.CoordinateTransformation;
  private readonly fromLonLat: gdal.CoordinateTransformation;

  constructor() {
    const lambert = gdal.SpatialReference.fromEPSG(2154);
    const lonLat = gdal.SpatialReference.fromUserInput('OGC:CRS84');
    this.toLonLat = new gdal.CoordinateTransformation(lambert, lonLat);
    this.fromLonLat = new gdal.CoordinateTransformation(lonLat, lambert);
  }

  /**
   * WKB geometries in EPSG:2154 → GeoJSON geometries in lon/lat, decoded in JavaScript, their vertices transformed
   * together (a GDAL geometry per piece, transformed and written back, cost a tenth of a tile worker's time). Each
   * comes with its `bbox`, taken here from the transformed vertices: the tiles it touches are found from it.
   */
  geometriesToLonLat(wkbs: readonly Uint8Array[]): Array<GeoJSON.Geometry & { bbox: BBox }> {
    const geometries = wkbs.map(wkbToGeoJSON);
    const positions: number[][] = [];
    // Where each geometry's positions end in the flat list.
    const ends = geometries.map((geometry) => {
      collectPositions(geometry, positions);
      return positions.length;
    });
    const xy = new Float64Array(2 * positions.length);
    positions.forEach((position, i) => {
      xy[2 * i] = position[0]!;
      xy[2 * i + 1] = position[1]!;
    });
    const lonLat = this.pointsToLonLat(xy);
    positions.forEach((position, i) => {
      position[0] = lonLat[2 * i]!;
      position[1] = lonLat[2 * i + 1]!;
    });
    let start = 0;
    return geometries.map((geometry, g) => {
      const bbox: BBox = [Infinity, Infinity, -Infinity, -Infinity];
      for (let k = 2 * start; k < 2 * ends[g]!; k += 2) {
        const [lon, lat] = [lonLat[k]!, lonLat[k + 1]!];
        if (lon < bbox[0]) bbox[0] = lon;
        if (lat < bbox[1]) bbox[1] = lat;
        if (lon > bbox[2]) bbox[2] = lon;
        if (lat > bbox[3]) bbox[3] = lat;
      }
      start = ends[g]!;
      return Object.assign(geometry, { bbox });
    });
  }

  /**
   * Lon/lat boxes of small Lambert-93 boxes (`minX, minY, maxX, maxY` each) from their corners; callers add a
   * margin for curved edges. Corners transformed together: a call per corner cost about 7 µs a piece when the
   * tile index read the region's 9.4 M pieces.
   */
  cornersToLonLat(boxes: Float64Array): Float64Array {
    const corners = new Float64Array(2 * boxes.length);
    for (let i = 0; i < boxes.length; i += 4) {
      const [minX, minY, maxX, maxY] = [boxes[i]!, boxes[i + 1]!, boxes[i + 2]!, boxes[i + 3]!];
      corners.set([minX, minY, minX, maxY, maxX, minY, maxX, maxY], 2 * i);
    }
    const lonLat = this.pointsToLonLat(corners);
    const out = new Float64Array(boxes.length);
    for (let i = 0; i < boxes.length; i += 4) {
      let [west, south, east, north] = [Infinity, Infinity, -Infinity, -Infinity];
      for (let k = 2 * i; k < 2 * i + 8; k += 2) {
        west = Math.min(west, lonLat[k]!);
        south = Math.min(south, lonLat[k + 1]!);
        east = Math.max(east, lonLat[k]!);
        north = Math.max(north, lonLat[k + 1]!);
      }
      out.set([west, south, east, north], i);
    }
    return out;
  }

  /**
   * Interleaved Lambert-93 x, y → interleaved lon, lat, in one transform of a line through all the points: the
   * numbers are those of a transform per point (the same PROJ operation on each), without a native call each.
   */
  private pointsToLonLat(xy: Float64Array): Float64Array {
    const out = new Float64Array(xy.length);
    if (xy.length === 0) return out;
    const wkb = Buffer.allocUnsafe(9 + 8 * xy.length);
    wkb[0] = 1; // little-endian, as Float64Array is on the platforms Node runs on
    wkb.writeUInt32LE(2, 1); // LineString
    wkb.writeUInt32LE(xy.length / 2, 5);
    Buffer.from(xy.buffer, xy.byteOffset, xy.byteLength).copy(wkb, 9);
    const line = gdal.Geometry.fromWKB(wkb);
    line.transform(this.toLonLat);
    line.toWKB(gdal.wkbNDR).copy(Buffer.from(out.buffer), 0, 9);
    return out;
  }

  /** Lambert-93 box enclosing a lon/lat box: the densified outline is projected, so curved edges stay inside. */
  lonLatBoxToLambert(box: BBox): BBox {
    const steps = 8;
    const out: BBox = [Infinity, Infinity, -Infinity, -Infinity];
    for (let i = 0; i <= steps; i++) {
      const t = i / steps;
      const lon = box[0] + (box[2] - box[0]) * t;
      const lat = box[1] + (box[3] - box[1]) * t;
      for (const [x, y] of [
        [lon, box[1]],
        [lon, box[3]],
        [box[0], lat],
        [box[2], lat],
      ] as const) {
        const p = this.fromLonLat.transformPoint(x, y);
        out[0] = Math.min(out[0], p.x);
        out[1] = Math.min(out[1], p.y);
        out[2] = Math.max(out[2], p.x);
        out[3] = Math.max(out[3], p.y);
      }
    }
    return out;
  }

  /** Lon/lat box enclosing a Lambert-93 box (same densified-outline approach). */
  lambertBoxToLonLat(box: BBox): BBox {
    const steps = 8;
    const out: BBox = [Infinity, Infinity, -Infinity, -Infinity];
    for (let i = 0; i <= steps; i++) {
      const t = i / steps;
      const x = box[0] + (box[2] - box[0]) * t;
      const y = box[1] + (box[3] - box[1]) * t;
      for (const [px, py] of [
        [x, box[1]],
        [x, box[3]],
        [box[0], y],
        [box[2], y],
      ] as const) {
        const p = this.toLonLat.transformPoint(px, py);
        out[0] = Math.min(out[0], p.x);
        out[1] = Math.min(out[1], p.y);
        out[2] = Math.max(out[2], p.x);
        out[3] = Math.max(out[3], p.y);
      }
    }
    return out;
  }
}

/** Every [x, y] position of a GeoJSON geometry, appended to `out` (the arrays themselves, to be written over). */
function collectPositions(geometry: GeoJSON.Geometry, out: number[][]): void {
  switch (geometry.type) {
    case 'Point':
      out.push(geometry.coordinates);
      break;
    case 'LineString':
    case 'MultiPoint':
      out.push(...geometry.coordinates);
      break;
    case 'Polygon':
    case 'MultiLineString':
      for (const line of geometry.coordinates) out.push(...line);
      break;
    case 'MultiPolygon':
      for (const polygon of geometry.coordinates) for (const ring of polygon) out.push(...ring);
      break;
    case 'GeometryCollection':
      for (const part of geometry.geometries) collectPositions(part, out);
  }
}

/** Ground size of one pixel (of a 256-px tile) at zoom z and latitude lat, in metres. */
export function pixelMetres(z: number, lat: number): number {
  return (40_075_016.686 * Math.cos((lat * Math.PI) / 180)) / (256 * 2 ** z);
}
