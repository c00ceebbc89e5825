/**
 * Reads a PMTiles archive back with the `pmtiles` reader (local file source) and decodes its MVT
 * tiles with @mapbox/vector-tile, for assertions and for canonical, sorted JSON dumps.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { VectorTile, type VectorTileFeature } from '@mapbox/vector-tile';
import { PbfReader } from 'pbf';
import { Compression, PMTiles, type Header, type RangeResponse, type Source } from 'pmtiles';
import { tileRange } from '../../pipeline/tiles/geo.js';

/** pmtiles `Source` over a local file (the package's own FileSource needs the browser File API). */
export class LocalFileSource implements Source {
  private handle: Promise<FileHandle>;
  constructor(private readonly file: string) {
    this.handle = open(file, 'r');
  }
  getKey(): string {
    return this.file;
  }
  async getBytes(offset: number, length: number): Promise<RangeResponse> {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await (await this.handle).read(buffer, 0, length, offset);
    const data = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + bytesRead) as ArrayBuffer;
    return { data };
  }
  async close(): Promise<void> {
    await (await this.handle).close();
  }
}

export interface DecodedTile {
  z: number;
  x: number;
  y: number;
  /** Compressed size as stored. */
  bytes: number;
  tile: VectorTile;
}

export interface Archive {
  header: Header;
  metadata: Record<string, any>;
  tiles: DecodedTile[];
}

/** Every tile of the archive inside its bounds, decoded, with its stored (compressed) size. */
export async function readArchive(file: string): Promise<Archive> {
  const source = new LocalFileSource(file);
  // The last decompression of a getZxy call is the tile itself: its input length is the stored size.
  let lastCompressed = 0;
  const decompress = async (buf: ArrayBuffer, compression: Compression): Promise<ArrayBuffer> => {
    lastCompressed = buf.byteLength;
    if (compression === Compression.None) return buf;
    if (compression !== Compression.Gzip) throw new Error(`unexpected compression ${compression}`);
    const out = gunzipSync(Buffer.from(buf));
    return out.buffer.slice(out.byteOffset, out.byteOffset + out.length) as ArrayBuffer;
  };
  try {
    const archive = new PMTiles(source, undefined, decompress);
    const header = await archive.getHeader();
    const metadata = (await archive.getMetadata()) as Record<string, any>;
    const tiles: DecodedTile[] = [];
    for (let z = header.minZoom; z <= header.maxZoom; z++) {
      const r = tileRange([header.minLon, header.minLat, header.maxLon, header.maxLat], z);
      for (let x = r.minX; x <= r.maxX; x++) {
        for (let y = r.minY; y <= r.maxY; y++) {
          const response = await archive.getZxy(z, x, y);
          if (response) tiles.push({ z, x, y, bytes: lastCompressed, tile: new VectorTile(new PbfReader(new Uint8Array(response.data))) });
        }
      }
    }
    return { header, metadata, tiles };
  } finally {
    await source.close();
  }
}

/** Canonical JSON of the archive: header, metadata and every feature, sorted. */
export function dumpArchive(archive: Archive): string {
  const tiles = archive.tiles.map(({ z, x, y, tile }) => ({
    tile: `${z}/${x}/${y}`,
    layers: Object.keys(tile.layers)
      .sort()
      .map((name) => {
        const layer = tile.layers[name]!;
        const features: Array<{ id: number | undefined; properties: unknown; geometry: unknown }> = [];
        for (let i = 0; i < layer.length; i++) {
          const f: VectorTileFeature = layer.feature(i);
          features.push({ id: f.id, properties: f.properties, geometry: f.loadGeometry().map((ring) => ring.map((p) => [p.x, p.y])) });
        }
        features.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
        return { name, extent: layer.extent, features };
      }),
  }));
  const { etag: _etag, ...header } = archive.header;
  return JSON.stringify({ header, metadata: archive.metadata, tiles }, null, 1);
}
