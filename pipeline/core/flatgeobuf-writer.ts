/**
 * Writes a FlatGeobuf file with a spatial index from features already encoded: their bytes are copied as they are,
 * sorted along a Hilbert curve and preceded by a packed R-tree, the layout GDAL's FlatGeobuf driver gives a file
 * written with SPATIAL_INDEX=YES (features sorted by the Hilbert value of their box centres over the layer's extent,
 * largest first; leaves in that order; each parent the union of up to 16 children, pointing at its first child). The
 * ingest stages each vintage without index through GDAL, about a quarter of the copy's time less, then sorts it here
 * once its overlaps are resolved (pipeline/ingest/overlaps.ts) instead of GDAL reading and writing every feature
 * again. Features of equal Hilbert value keep their order, where GDAL's sort leaves it unspecified; otherwise the
 * index and feature bytes are GDAL's (tests/flatgeobuf.test.ts).
 *
 * @example
 *   const unsorted = FlatGeobufReader.open('vintage-2019.unsorted.fgb'); // written by GDAL, SPATIAL_INDEX=NO
 *   const features = new FeatureList();
 *   for (const f of unsorted.featureBoxes()) features.add(unsorted, f.box, f.offset, f.bytes);
 *   writeSortedFlatGeobuf('vintage-2019.fgb', unsorted, features);
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { levelBounds, type Box, type FlatGeobufReader } from './flatgeobuf.js';
import { doubled } from './typed-arrays.js';

/**
 * The features to write, as columns: a vintage holds millions, and as many small objects would make every major
 * collection of the garbage collector walk them all.
 */
export class FeatureList {
  count = 0;
  /** minX, minY, maxX, maxY of each feature. */
  boxes = new Float64Array(4 * 1024);
  /** Where its stored bytes are: `readers[source]`, data offset, length with the size prefix. */
  sources = new Uint8Array(1024);
  offsets = new Float64Array(1024);
  bytes = new Uint32Array(1024);
  readonly readers: FlatGeobufReader[] = [];

  add(from: FlatGeobufReader, box: Box, offset: number, bytes: number): void {
    if (this.count === this.offsets.length) this.grow();
    let source = this.readers.indexOf(from);
    if (source < 0) source = this.readers.push(from) - 1;
    const i = this.count++;
    this.boxes[4 * i] = box.minX;
    this.boxes[4 * i + 1] = box.minY;
    this.boxes[4 * i + 2] = box.maxX;
    this.boxes[4 * i + 3] = box.maxY;
    this.sources[i] = source;
    this.offsets[i] = offset;
    this.bytes[i] = bytes;
  }

  private grow(): void {
    this.boxes = doubled(this.boxes);
    this.sources = doubled(this.sources);
    this.bytes = doubled(this.bytes);
    this.offsets = doubled(this.offsets);
  }
}

const MAGIC = Buffer.from([0x66, 0x67, 0x62, 0x03, 0x66, 0x67, 0x62, 0x00]);
const NODE_SIZE = 16;
const NODE_BYTES = 40;
const HILBERT_MAX = 0xffff;
const BUFFER_BYTES = 8 << 20;

/** Writes the features to `file`, sorted and indexed; the header is `template`'s with the new count and extent. */
export function writeSortedFlatGeobuf(file: string, template: FlatGeobufReader, features: FeatureList): void {
  const { count, boxes } = features;
  if (count === 0) throw new Error(`${file}: no feature to write`);
  const extent = unionOf(boxes, count);
  const order = hilbertOrder(boxes, count, extent);
  const header = template.patchedHeader(count, extent, NODE_SIZE);
  const fd = openSync(file, 'w');
  try {
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(header.length);
    writeSync(fd, Buffer.concat([MAGIC, prefix, header]));
    writeSync(fd, packedRTree(features, order));
    let buffer = Buffer.allocUnsafe(BUFFER_BYTES);
    let used = 0;
    for (const i of order) {
      const bytes = features.bytes[i]!;
      if (used + bytes > buffer.length) {
        writeSync(fd, buffer, 0, used);
        used = 0;
        if (bytes > buffer.length) buffer = Buffer.allocUnsafe(bytes);
      }
      features.readers[features.sources[i]!]!.rawFeature(features.offsets[i]!, bytes, buffer, used);
      used += bytes;
    }
    writeSync(fd, buffer, 0, used);
  } finally {
    closeSync(fd);
  }
}

/** The union of the first `count` boxes of `boxes` (minX, minY, maxX, maxY each). */
export function unionOf(boxes: Float64Array, count: number): Box {
  const union = { minX: Infinity, minY: Infinity, maxX: -Infinity, maxY: -Infinity };
  for (let i = 0; i < 4 * count; i += 4) {
    if (boxes[i]! < union.minX) union.minX = boxes[i]!;
    if (boxes[i + 1]! < union.minY) union.minY = boxes[i + 1]!;
    if (boxes[i + 2]! > union.maxX) union.maxX = boxes[i + 2]!;
    if (boxes[i + 3]! > union.maxY) union.maxY = boxes[i + 3]!;
  }
  return union;
}

/**
 * Positions of the first `count` boxes in a FlatGeobuf index's order: Hilbert value of the centre over `extent`,
 * largest first, then position.
 */
export function hilbertOrder(boxes: Float64Array, count: number, extent: Box): Uint32Array {
  const width = extent.maxX - extent.minX;
  const height = extent.maxY - extent.minY;
  const keys = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const [minX, minY, maxX, maxY] = [boxes[4 * i]!, boxes[4 * i + 1]!, boxes[4 * i + 2]!, boxes[4 * i + 3]!];
    // As the format's reference code computes it, operation for operation: the same doubles give the same cells.
    const x = width !== 0 ? Math.floor((HILBERT_MAX * ((minX + maxX) / 2 - extent.minX)) / width) : 0;
    const y = height !== 0 ? Math.floor((HILBERT_MAX * ((minY + maxY) / 2 - extent.minY)) / height) : 0;
    keys[i] = hilbert(x, y);
  }
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
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
function packedRTree(features: FeatureList, order: Uint32Array): Buffer {
  const levels = levelBounds(features.count, NODE_SIZE);
  const nodes = Buffer.alloc(levels[0]![1] * NODE_BYTES);
  const setNode = (node: number, minX: number, minY: number, maxX: number, maxY: number, offset: number): void => {
    const at = node * NODE_BYTES;
    nodes.writeDoubleLE(minX, at);
    nodes.writeDoubleLE(minY, at + 8);
    nodes.writeDoubleLE(maxX, at + 16);
    nodes.writeDoubleLE(maxY, at + 24);
    nodes.writeBigUInt64LE(BigInt(offset), at + 32);
  };
  let offset = 0;
  order.forEach((i, rank) => {
    const b = features.boxes;
    setNode(levels[0]![0] + rank, b[4 * i]!, b[4 * i + 1]!, b[4 * i + 2]!, b[4 * i + 3]!, offset);
    offset += features.bytes[i]!;
  });
  for (let level = 0; level + 1 < levels.length; level++) {
    const [first, last] = levels[level]!;
    let parent = levels[level + 1]![0];
    for (let child = first; child < last; child += NODE_SIZE) {
      let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
      for (let k = child; k < Math.min(child + NODE_SIZE, last); k++) {
        const at = k * NODE_BYTES;
        // The reference's comparisons (not Math.min/max, which differ on -0).
        const [x0, y0, x1, y1] = [nodes.readDoubleLE(at), nodes.readDoubleLE(at + 8), nodes.readDoubleLE(at + 16), nodes.readDoubleLE(at + 24)];
        if (x0 < minX) minX = x0;
        if (y0 < minY) minY = y0;
        if (x1 > maxX) maxX = x1;
        if (y1 > maxY) maxY = y1;
      }
      setNode(parent++, minX, minY, maxX, maxY, child);
    }
  }
  return nodes;
}
