/**
 * Writes a FlatGeobuf file with a spatial index from features already encoded: their bytes are copied as they are,
 * sorted along a Hilbert curve and preceded by a packed R-tree, the layout GDAL's FlatGeobuf driver gives a file
 * written with SPATIAL_INDEX=YES (features sorted by the Hilbert value of their box centres over the layer's extent,
 * largest first; leaves in that order; each parent the union of up to 16 children, pointing at its first child). The
 * ingest stages each vintage without index through GDAL, which halves the cost of writing it, then sorts it here
 * once its overlaps are resolved (pipeline/ingest/overlaps.ts) instead of GDAL reading and writing every feature
 * again. Features of equal Hilbert value keep their order, where GDAL's sort leaves it unspecified; otherwise the
 * index and feature bytes are GDAL's (tests/flatgeobuf.test.ts).
 *
 * @example
 *   const unsorted = FlatGeobufReader.open('vintage-2019.unsorted.fgb'); // written by GDAL, SPATIAL_INDEX=NO
 *   writeSortedFlatGeobuf('vintage-2019.fgb', unsorted, [...unsorted.features()].map((f) => ({ box: f.box, from: unsorted, offset: f.offset, bytes: f.bytes })));
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { levelBounds, type Box, type FlatGeobufReader } from './flatgeobuf.js';

/** One feature to write: its box and where its stored bytes are. */
export interface FeatureToWrite {
  box: Box;
  from: FlatGeobufReader;
  /** Data offset and length (size prefix included) in `from`. */
  offset: number;
  bytes: number;
}

const MAGIC = Buffer.from([0x66, 0x67, 0x62, 0x03, 0x66, 0x67, 0x62, 0x00]);
const NODE_SIZE = 16;
const NODE_BYTES = 40;
const HILBERT_MAX = 0xffff;
const BUFFER_BYTES = 8 << 20;

/** Writes `features` to `file`, sorted and indexed; the header is `template`'s with the new count and extent. */
export function writeSortedFlatGeobuf(file: string, template: FlatGeobufReader, features: readonly FeatureToWrite[]): void {
  if (features.length === 0) throw new Error(`${file}: no feature to write`);
  const extent = unionOf(features.map((feature) => feature.box));
  const order = hilbertOrder(features.map((feature) => feature.box), extent);
  const header = template.patchedHeader(features.length, extent, NODE_SIZE);
  const fd = openSync(file, 'w');
  try {
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(header.length);
    writeSync(fd, Buffer.concat([MAGIC, prefix, header]));
    writeSync(fd, packedRTree(features, order));
    let buffer = Buffer.allocUnsafe(BUFFER_BYTES);
    let used = 0;
    for (const i of order) {
      const feature = features[i]!;
      if (used + feature.bytes > buffer.length) {
        writeSync(fd, buffer, 0, used);
        used = 0;
        if (feature.bytes > buffer.length) buffer = Buffer.allocUnsafe(feature.bytes);
      }
      feature.from.rawFeature(feature.offset, feature.bytes, buffer, used);
      used += feature.bytes;
    }
    writeSync(fd, buffer, 0, used);
  } finally {
    closeSync(fd);
  }
}

/** The union of the boxes. */
export function unionOf(boxes: readonly Box[]): Box {
  const union = { minX: Infinity, minY: Infinity, maxX: -Infinity, maxY: -Infinity };
  for (const box of boxes) {
    if (box.minX < union.minX) union.minX = box.minX;
    if (box.minY < union.minY) union.minY = box.minY;
    if (box.maxX > union.maxX) union.maxX = box.maxX;
    if (box.maxY > union.maxY) union.maxY = box.maxY;
  }
  return union;
}

/** Positions of the boxes in a FlatGeobuf index's order: Hilbert value of the centre over `extent`, largest first, then position. */
export function hilbertOrder(boxes: readonly Box[], extent: Box): Uint32Array {
  const width = extent.maxX - extent.minX;
  const height = extent.maxY - extent.minY;
  const keys = new Uint32Array(boxes.length);
  boxes.forEach((box, i) => {
    // As the format's reference code computes it, operation for operation: the same doubles give the same cells.
    const x = width !== 0 ? Math.floor((HILBERT_MAX * ((box.minX + box.maxX) / 2 - extent.minX)) / width) : 0;
    const y = height !== 0 ? Math.floor((HILBERT_MAX * ((box.minY + box.maxY) / 2 - extent.minY)) / height) : 0;
    keys[i] = hilbert(x, y);
  });
  const order = new Uint32Array(boxes.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  return order.sort((a, b) => keys[b]! - keys[a]! || a - b);
}

/**
 * Position of cell (x, y) of a 2^16 × 2^16 grid along the Hilbert curve (the public-domain bit-twiddling construction
 * of github.com/rawrunprotected/hilbert_curves, which FlatGeobuf uses), as an unsigned 32-bit integer.
 */
export function hilbert(x: number, y: number): number {
  let a = x ^ y;
  let b = 0xffff ^ a;
  let c = 0xffff ^ (x | y);
  let d = x & (y ^ 0xffff);
  let A = a | (b >>> 1);
  let B = (a >>> 1) ^ a;
  let C = (c >>> 1) ^ (b & (d >>> 1)) ^ c;
  let D = (a & (c >>> 1)) ^ (d >>> 1) ^ d;

  [a, b, c, d] = [A, B, C, D];
  A = (a & (a >>> 2)) ^ (b & (b >>> 2));
  B = (a & (b >>> 2)) ^ (b & ((a ^ b) >>> 2));
  C ^= (a & (c >>> 2)) ^ (b & (d >>> 2));
  D ^= (b & (c >>> 2)) ^ ((a ^ b) & (d >>> 2));

  [a, b, c, d] = [A, B, C, D];
  A = (a & (a >>> 4)) ^ (b & (b >>> 4));
  B = (a & (b >>> 4)) ^ (b & ((a ^ b) >>> 4));
  C ^= (a & (c >>> 4)) ^ (b & (d >>> 4));
  D ^= (b & (c >>> 4)) ^ ((a ^ b) & (d >>> 4));

  [a, b, c, d] = [A, B, C, D];
  C ^= (a & (c >>> 8)) ^ (b & (d >>> 8));
  D ^= (b & (c >>> 8)) ^ ((a ^ b) & (d >>> 8));

  a = C ^ (C >>> 1);
  b = D ^ (D >>> 1);
  let i0 = x ^ y;
  let i1 = b | (0xffff ^ (i0 | a));
  i0 = spread(i0);
  i1 = spread(i1);
  return ((i1 << 1) | i0) >>> 0;
}

/** The 16 low bits of v moved to the even bits. */
function spread(v: number): number {
  v = (v | (v << 8)) & 0x00ff00ff;
  v = (v | (v << 4)) & 0x0f0f0f0f;
  v = (v | (v << 2)) & 0x33333333;
  return (v | (v << 1)) & 0x55555555;
}

/**
 * The index: nodes of four doubles and an unsigned 64-bit offset, root first, leaves last. A leaf holds its
 * feature's box and data offset; a parent the union of its children and the position of the first.
 */
function packedRTree(features: readonly FeatureToWrite[], order: Uint32Array): Buffer {
  const levels = levelBounds(features.length, NODE_SIZE);
  const nodes = Buffer.alloc(levels[0]![1] * NODE_BYTES);
  const setNode = (node: number, box: Box, offset: number): void => {
    const at = node * NODE_BYTES;
    nodes.writeDoubleLE(box.minX, at);
    nodes.writeDoubleLE(box.minY, at + 8);
    nodes.writeDoubleLE(box.maxX, at + 16);
    nodes.writeDoubleLE(box.maxY, at + 24);
    nodes.writeBigUInt64LE(BigInt(offset), at + 32);
  };
  const boxOf = (node: number): Box => {
    const at = node * NODE_BYTES;
    return { minX: nodes.readDoubleLE(at), minY: nodes.readDoubleLE(at + 8), maxX: nodes.readDoubleLE(at + 16), maxY: nodes.readDoubleLE(at + 24) };
  };
  let offset = 0;
  order.forEach((i, rank) => {
    setNode(levels[0]![0] + rank, features[i]!.box, offset);
    offset += features[i]!.bytes;
  });
  for (let level = 0; level + 1 < levels.length; level++) {
    const [first, last] = levels[level]!;
    let parent = levels[level + 1]![0];
    for (let child = first; child < last; child += NODE_SIZE) {
      const children: Box[] = [];
      for (let k = child; k < Math.min(child + NODE_SIZE, last); k++) children.push(boxOf(k));
      setNode(parent++, unionOf(children), child);
    }
  }
  return nodes;
}
