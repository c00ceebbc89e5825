/**
 * Geometry helpers for tiling: WKB bounding boxes without a spatial extension, Web Mercator tile
 * maths, and the EPSG:2154 → lon/lat transform (OGC:CRS84, so longitude comes first whatever the
 * GDAL axis-order defaults).
 */
import gdal from 'gdal-async';

export type BBox = [number, number, number, number];

/** Bounding box of any 2D/Z/M WKB geometry (ISO or EWKB-style flags), read without decoding to objects. */
export function wkbBBox(wkb: Uint8Array): BBox {
  const view = new DataView(wkb.buffer, wkb.byteOffset, wkb.byteLength);
  const box: BBox = [Infinity, Infinity, -Infinity, -Infinity];
  let pos = 0;
  const readGeometry = (): void => {
    const little = view.getUint8(pos) === 1;
    pos += 1;
    const rawType = view.getUint32(pos, little);
    pos += 4;
    const hasZ = (rawType & 0x80000000) !== 0 || Math.floor((rawType & 0xffff) / 1000) % 2 === 1;
    const hasM = (rawType & 0x40000000) !== 0 || Math.floor((rawType & 0xffff) / 1000) >= 2;
    if (rawType & 0x20000000) pos += 4; // EWKB SRID
    const type = (rawType & 0xffff) % 1000;
    const dims = 2 + (hasZ ? 1 : 0) + (hasM ? 1 : 0);
    const readPoints = (count: number): void => {
      for (let i = 0; i < count; i++) {
        const x = view.getFloat64(pos, little);
        const y = view.getFloat64(pos + 8, little);
        pos += 8 * dims;
        if (Number.isNaN(x)) continue; // empty point
        if (x < box[0]) box[0] = x;
        if (y < box[1]) box[1] = y;
        if (x > box[2]) box[2] = x;
        if (y > box[3]) box[3] = y;
      }
    };
    const count = (): number => {
      const n = view.getUint32(pos, little);
      pos += 4;
      return n;
    };
    if (type === 1) readPoints(1);
    else if (type === 2) readPoints(count());
    else if (type === 3) for (let rings = count(), r = 0; r < rings; r++) readPoints(count());
    else if (type >= 4 && type <= 7) for (let parts = count(), p = 0; p < parts; p++) readGeometry();
    else throw new Error(`unsupported WKB geometry type ${rawType}`);
  };
  readGeometry();
  return box;
}

/** 2D WKB (Polygon, MultiPolygon, or any other type) → GeoJSON geometry. */
export function wkbToGeoJSON(wkb: Uint8Array): GeoJSON.Geometry {
  const view = new DataView(wkb.buffer, wkb.byteOffset, wkb.byteLength);
  let pos = 0;
  const read = (): GeoJSON.Geometry => {
    const little = view.getUint8(pos) === 1;
    const rawType = view.getUint32(pos + 1, little);
    pos += 5;
    const hasZ = (rawType & 0x80000000) !== 0 || Math.floor((rawType & 0xffff) / 1000) % 2 === 1;
    const hasM = (rawType & 0x40000000) !== 0 || Math.floor((rawType & 0xffff) / 1000) >= 2;
    const stride = 8 * (2 + (hasZ ? 1 : 0) + (hasM ? 1 : 0));
    const type = (rawType & 0xffff) % 1000;
    const count = (): number => {
      pos += 4;
      return view.getUint32(pos - 4, little);
    };
    const points = (n: number): number[][] => {
      const out: number[][] = new Array(n);
      for (let i = 0; i < n; i++, pos += stride) out[i] = [view.getFloat64(pos, little), view.getFloat64(pos + 8, little)];
      return out;
    };
    const rings = (): number[][][] => Array.from({ length: count() }, () => points(count()));
    const parts = <T>(): T[] => Array.from({ length: count() }, () => read() as T);
    switch (type) {
      case 1:
        return { type: 'Point', coordinates: points(1)[0]! };
      case 2:
        return { type: 'LineString', coordinates: points(count()) };
      case 3:
        return { type: 'Polygon', coordinates: rings() };
      case 4:
        return { type: 'MultiPoint', coordinates: parts<GeoJSON.Point>().map((g) => g.coordinates) };
      case 5:
        return { type: 'MultiLineString', coordinates: parts<GeoJSON.LineString>().map((g) => g.coordinates) };
      case 6:
        return { type: 'MultiPolygon', coordinates: parts<GeoJSON.Polygon>().map((g) => g.coordinates) };
      case 7:
        return { type: 'GeometryCollection', geometries: parts<GeoJSON.Geometry>() };
      default:
        throw new Error(`unsupported WKB geometry type ${rawType}`);
    }
  };
  return read();
}

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

  /** WKB in EPSG:2154 → GeoJSON geometry in lon/lat (read back as WKB: much cheaper than GDAL's JSON). */
  geometryToLonLat(wkb: Uint8Array): GeoJSON.Geometry {
    const geometry = gdal.Geometry.fromWKB(Buffer.from(wkb.buffer, wkb.byteOffset, wkb.byteLength));
    geometry.transform(this.toLonLat);
    return wkbToGeoJSON(geometry.toWKB());
  }

  /** Lon/lat box of a small Lambert-93 box from its corners; callers add a margin for curved edges. */
  cornersToLonLat(box: BBox): BBox {
    const out: BBox = [Infinity, Infinity, -Infinity, -Infinity];
    for (const [x, y] of [
      [box[0], box[1]],
      [box[0], box[3]],
      [box[2], box[1]],
      [box[2], box[3]],
    ] as const) {
      const p = this.toLonLat.transformPoint(x, y);
      out[0] = Math.min(out[0], p.x);
      out[1] = Math.min(out[1], p.y);
      out[2] = Math.max(out[2], p.x);
      out[3] = Math.max(out[3], p.y);
    }
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

/** Ground size of one pixel (of a 256-px tile) at zoom z and latitude lat, in metres. */
export function pixelMetres(z: number, lat: number): number {
  return (40_075_016.686 * Math.cos((lat * Math.PI) / 180)) / (256 * 2 ** z);
}
