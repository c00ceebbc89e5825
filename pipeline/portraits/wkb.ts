/**
 * Minimal WKB reader for the portrait maps: (Multi)Polygon and GeometryCollection → polygon rings
 * as [x, y] arrays (Z/M dropped; ISO and EWKB type codes). Other types give no rings (nothing to draw).
 *
 * @example polygonRings(wkbBytes) // [[[x, y], …], …]
 */

export function polygonRings(wkb: Uint8Array): number[][][] {
  const view = new DataView(wkb.buffer, wkb.byteOffset, wkb.byteLength);
  const rings: number[][][] = [];
  let offset = 0;
  const read = (): void => {
    const little = view.getUint8(offset) === 1;
    let type = view.getUint32(offset + 1, little);
    offset += 5;
    // EWKB flags: Z 0x80000000, M 0x40000000, SRID 0x20000000.
    let dims = 2 + (type & 0x80000000 ? 1 : 0) + (type & 0x40000000 ? 1 : 0);
    if (type & 0x20000000) offset += 4;
    type &= 0x0fffffff;
    if (type >= 1000) {
      dims = 2 + (Math.floor(type / 1000) === 3 ? 2 : 1);
      type %= 1000;
    }
    const u32 = (): number => {
      const v = view.getUint32(offset, little);
      offset += 4;
      return v;
    };
    switch (type) {
      case 3: {
        const count = u32();
        for (let r = 0; r < count; r++) {
          const n = u32();
          const ring: number[][] = new Array(n);
          for (let i = 0; i < n; i++) {
            ring[i] = [view.getFloat64(offset, little), view.getFloat64(offset + 8, little)];
            offset += dims * 8;
          }
          rings.push(ring);
        }
        return;
      }
      case 6:
      case 7: {
        const count = u32();
        for (let g = 0; g < count; g++) read();
        return;
      }
      case 1:
        offset += dims * 8;
        return;
      case 2: {
        offset += u32() * dims * 8;
        return;
      }
      case 4:
      case 5: {
        const count = u32();
        for (let g = 0; g < count; g++) read();
        return;
      }
      default:
        throw new Error(`unsupported WKB geometry type ${type}`);
    }
  };
  read();
  return rings;
}

/** [minX, minY, maxX, maxY] of rings. */
export function ringsBbox(rings: number[][][]): [number, number, number, number] {
  let [minX, minY, maxX, maxY] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const ring of rings)
    for (const [x, y] of ring) {
      minX = Math.min(minX, x!);
      minY = Math.min(minY, y!);
      maxX = Math.max(maxX, x!);
      maxY = Math.max(maxY, y!);
    }
  return [minX, minY, maxX, maxY];
}
