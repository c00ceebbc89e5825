/**
 * Minimal PMTiles v3 writer (https://github.com/protomaps/PMTiles/blob/main/spec/v3/spec.md): no npm
 * package writes the format, so this one does what the spec requires and no more.
 *
 * Layout: header (127 bytes) | root directory | metadata JSON | leaf directories | tile data.
 * Tile data is clustered (ordered by tile id), identical tile contents are stored once and
 * consecutive tile ids sharing one content become one run-length entry. Directories and metadata
 * are gzip-compressed with a fixed level, so identical input gives identical bytes.
 *
 * @example
 * await writePmtiles('out.pmtiles', tiles, (t) => readBlob(t), { minZoom: 6, maxZoom: 14, bounds, center, metadata });
 */
import { open } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';

export const HEADER_BYTES = 127;
/** The spec requires header + root directory to fit in the first 16 KiB. */
const ROOT_BUDGET = 16_384 - HEADER_BYTES;
const GZIP_LEVEL = 9;

/** One stored tile: where its gzip-compressed MVT bytes are, and a content hash for deduplication. */
export interface TileRef {
  tileId: number;
  hash: string;
  length: number;
  /** Opaque to the writer: tells `readBlob` where the bytes are. */
  file: string;
  offset: number;
}

export interface ArchiveInfo {
  minZoom: number;
  maxZoom: number;
  /** [west, south, east, north] in degrees. */
  bounds: [number, number, number, number];
  /** [lon, lat, zoom]. */
  center: [number, number, number];
  metadata: Record<string, unknown>;
}

export interface ArchiveSummary {
  addressedTiles: number;
  tileEntries: number;
  tileContents: number;
  bytes: number;
  leafDirectories: number;
}

interface Entry {
  tileId: number;
  offset: number;
  length: number;
  runLength: number;
}

/** Hilbert-curve tile id of z/x/y: all tiles of lower zooms first, then the position on the curve at z. */
export function zxyToTileId(z: number, x: number, y: number): number {
  if (z > 26) throw new Error(`zoom ${z} exceeds the 26 levels PMTiles ids can address exactly`);
  const n = 2 ** z;
  if (x < 0 || y < 0 || x >= n || y >= n) throw new Error(`tile ${z}/${x}/${y} outside the zoom level`);
  const base = (4 ** z - 1) / 3;
  let d = 0;
  let tx = x;
  let ty = y;
  for (let s = n / 2; s >= 1; s /= 2) {
    const rx = (tx & s) > 0 ? 1 : 0;
    const ry = (ty & s) > 0 ? 1 : 0;
    d += s * s * ((3 * rx) ^ ry);
    // Rotate the quadrant so the sub-curve has the canonical orientation.
    if (ry === 0) {
      if (rx === 1) {
        tx = n - 1 - tx;
        ty = n - 1 - ty;
      }
      [tx, ty] = [ty, tx];
    }
  }
  return base + d;
}

function pushVarint(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/** Directory encoding from the spec: count, then columns of delta ids, run lengths, lengths, offsets. */
export function serializeDirectory(entries: Entry[]): Buffer {
  const out: number[] = [];
  pushVarint(out, entries.length);
  let lastId = 0;
  for (const e of entries) {
    pushVarint(out, e.tileId - lastId);
    lastId = e.tileId;
  }
  for (const e of entries) pushVarint(out, e.runLength);
  for (const e of entries) pushVarint(out, e.length);
  entries.forEach((e, i) => {
    const previous = entries[i - 1];
    // 0 means "right after the previous entry"; otherwise offset + 1.
    pushVarint(out, previous && e.offset === previous.offset + previous.length ? 0 : e.offset + 1);
  });
  return gzipSync(Buffer.from(out), { level: GZIP_LEVEL });
}

/** Splits entries into leaf directories until the root fits its 16 KiB budget. */
function buildDirectories(entries: Entry[]): { root: Buffer; leaves: Buffer; leafCount: number } {
  const whole = serializeDirectory(entries);
  if (whole.length <= ROOT_BUDGET) return { root: whole, leaves: Buffer.alloc(0), leafCount: 0 };
  for (let leafSize = 4096; ; leafSize *= 2) {
    const rootEntries: Entry[] = [];
    const leafBuffers: Buffer[] = [];
    let offset = 0;
    for (let i = 0; i < entries.length; i += leafSize) {
      const leaf = serializeDirectory(entries.slice(i, i + leafSize));
      rootEntries.push({ tileId: entries[i]!.tileId, offset, length: leaf.length, runLength: 0 });
      leafBuffers.push(leaf);
      offset += leaf.length;
    }
    const root = serializeDirectory(rootEntries);
    if (root.length <= ROOT_BUDGET) return { root, leaves: Buffer.concat(leafBuffers), leafCount: leafBuffers.length };
  }
}

function writeHeader(h: {
  rootOffset: number;
  rootLength: number;
  metadataOffset: number;
  metadataLength: number;
  leafOffset: number;
  leafLength: number;
  dataOffset: number;
  dataLength: number;
  addressed: number;
  entries: number;
  contents: number;
  info: ArchiveInfo;
}): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b.write('PMTiles', 0, 'ascii');
  b.writeUInt8(3, 7);
  const u64 = [h.rootOffset, h.rootLength, h.metadataOffset, h.metadataLength, h.leafOffset, h.leafLength, h.dataOffset, h.dataLength, h.addressed, h.entries, h.contents];
  u64.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 8 + i * 8));
  b.writeUInt8(1, 96); // clustered
  b.writeUInt8(2, 97); // internal compression: gzip
  b.writeUInt8(2, 98); // tile compression: gzip
  b.writeUInt8(1, 99); // tile type: MVT
  b.writeUInt8(h.info.minZoom, 100);
  b.writeUInt8(h.info.maxZoom, 101);
  const e7 = (deg: number): number => Math.round(deg * 1e7);
  const [w, s, e, n] = h.info.bounds;
  b.writeInt32LE(e7(w), 102);
  b.writeInt32LE(e7(s), 106);
  b.writeInt32LE(e7(e), 110);
  b.writeInt32LE(e7(n), 114);
  b.writeUInt8(h.info.center[2], 118);
  b.writeInt32LE(e7(h.info.center[0]), 119);
  b.writeInt32LE(e7(h.info.center[1]), 123);
  return b;
}

/**
 * Writes the archive to `outPath`. `tiles` may come in any order and from several files; they are
 * sorted by tile id, deduplicated by hash, and copied once each through `readBlob`.
 */
export async function writePmtiles(
  outPath: string,
  tiles: TileRef[],
  readBlob: (tile: TileRef) => Promise<Buffer>,
  info: ArchiveInfo,
): Promise<ArchiveSummary> {
  const sorted = [...tiles].sort((a, b) => a.tileId - b.tileId);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.tileId === sorted[i - 1]!.tileId) throw new Error(`tile id ${sorted[i]!.tileId} written twice`);
  }
  // Pass 1: give each distinct content an offset in the data section; build run-length entries.
  const offsetByHash = new Map<string, number>();
  const unique: TileRef[] = [];
  const entries: Entry[] = [];
  let dataLength = 0;
  for (const tile of sorted) {
    let offset = offsetByHash.get(tile.hash);
    if (offset === undefined) {
      offset = dataLength;
      offsetByHash.set(tile.hash, offset);
      unique.push(tile);
      dataLength += tile.length;
    }
    const last = entries[entries.length - 1];
    if (last && last.offset === offset && last.tileId + last.runLength === tile.tileId) last.runLength += 1;
    else entries.push({ tileId: tile.tileId, offset, length: tile.length, runLength: 1 });
  }
  const { root, leaves, leafCount } = buildDirectories(entries);
  const metadata = gzipSync(Buffer.from(JSON.stringify(info.metadata), 'utf8'), { level: GZIP_LEVEL });
  const rootOffset = HEADER_BYTES;
  const metadataOffset = rootOffset + root.length;
  const leafOffset = metadataOffset + metadata.length;
  const dataOffset = leafOffset + leaves.length;
  const header = writeHeader({
    rootOffset,
    rootLength: root.length,
    metadataOffset,
    metadataLength: metadata.length,
    leafOffset,
    leafLength: leaves.length,
    dataOffset,
    dataLength,
    addressed: sorted.length,
    entries: entries.length,
    contents: unique.length,
    info,
  });
  // Pass 2: stream the distinct tile contents in offset order.
  const handle = await open(outPath, 'w');
  try {
    await handle.write(Buffer.concat([header, root, metadata, leaves]));
    for (const tile of unique) await handle.write(await readBlob(tile));
  } finally {
    await handle.close();
  }
  return { addressedTiles: sorted.length, tileEntries: entries.length, tileContents: unique.length, bytes: dataOffset + dataLength, leafDirectories: leafCount };
}
