/**
 * Mapbox Vector Tile encoding of geojson-vt tiles, byte for byte what @maplibre/vt-pbf's `fromGeojsonVt` writes
 * (tested against it), for layers whose features share properties objects: a piece's properties in a layer are
 * those of its list of classes, so a tile of thousands of features holds a few dozen distinct objects. Each
 * object's tag indices are worked out once per layer, where vt-pbf looks every key and value up again, and no
 * wrapper or point object is made per feature.
 *
 * @example
 * const pbf = encodeMvt([{ name: 'landuse_2019', features: tile.features, properties: tile.features.map((f) => f.tags) }], 4096);
 */
import { PbfWriter } from 'pbf';
import type { GeoJSONVTFeature } from '@maplibre/geojson-vt';

export interface MvtLayer {
  name: string;
  features: GeoJSONVTFeature[];
  /** The properties of each feature in this layer, by position; objects met more than once are encoded once. */
  properties: GeoJSON.GeoJsonProperties[];
}

const VERSION = 2;

/** Layers in the order given; the caller sorts them. */
export function encodeMvt(layers: readonly MvtLayer[], extent: number): Uint8Array {
  const pbf = new PbfWriter();
  for (const layer of layers) pbf.writeMessage(3, writeLayer, { layer, extent });
  return pbf.finish();
}

/** A layer's key and value tables, in first-use order as vt-pbf builds them, and each properties object's tags. */
class TagTable {
  readonly keys: string[] = [];
  readonly values: Array<string | number | boolean> = [];
  private readonly keyIndex = new Map<string, number>();
  private readonly valueIndex = new Map<string, number>();
  private readonly tagsOf = new Map<object, number[]>();
  private static readonly NONE: number[] = [];

  tags(properties: GeoJSON.GeoJsonProperties): number[] {
    if (!properties) return TagTable.NONE;
    let tags = this.tagsOf.get(properties);
    if (tags) return tags;
    tags = [];
    for (const key in properties) {
      const raw: unknown = properties[key];
      if (raw == null) continue;
      let index = this.keyIndex.get(key);
      if (index === undefined) {
        index = this.keys.push(key) - 1;
        this.keyIndex.set(key, index);
      }
      tags.push(index);
      const value = typeof raw === 'string' || typeof raw === 'boolean' || typeof raw === 'number' ? raw : JSON.stringify(raw);
      const valueKey = `${typeof value}:${value}`;
      let valueIndex = this.valueIndex.get(valueKey);
      if (valueIndex === undefined) {
        valueIndex = this.values.push(value) - 1;
        this.valueIndex.set(valueKey, valueIndex);
      }
      tags.push(valueIndex);
    }
    this.tagsOf.set(properties, tags);
    return tags;
  }
}

function writeLayer({ layer, extent }: { layer: MvtLayer; extent: number }, pbf: PbfWriter): void {
  pbf.writeVarintField(15, VERSION);
  pbf.writeStringField(1, layer.name);
  pbf.writeVarintField(5, extent);
  const table = new TagTable();
  // One holder reused for every feature: writeMessage takes the function and its argument.
  const feature: FeatureToWrite = { feature: layer.features[0]!, tags: [] };
  for (let i = 0; i < layer.features.length; i++) {
    feature.feature = layer.features[i]!;
    feature.tags = table.tags(layer.properties[i]!);
    pbf.writeMessage(2, writeFeature, feature);
  }
  for (const key of table.keys) pbf.writeStringField(3, key);
  for (const value of table.values) pbf.writeMessage(4, writeValue, value);
}

interface FeatureToWrite {
  feature: GeoJSONVTFeature;
  tags: number[];
}

function writeFeature({ feature, tags }: FeatureToWrite, pbf: PbfWriter): void {
  const id = typeof feature.id === 'string' ? parseInt(feature.id, 10) : feature.id;
  if (typeof id === 'number' && !Number.isNaN(id)) pbf.writeVarintField(1, id);
  pbf.writeMessage(2, writeTags, tags);
  pbf.writeVarintField(3, feature.type);
  pbf.writeMessage(4, writeGeometry, feature);
}

function writeTags(tags: number[], pbf: PbfWriter): void {
  for (const index of tags) pbf.writeVarint(index);
}

const command = (id: number, count: number): number => (count << 3) + (id & 7);
const zigzag = (n: number): number => (n << 1) ^ (n >> 31);

function writeGeometry(feature: GeoJSONVTFeature, pbf: PbfWriter): void {
  const type = feature.type;
  const rings = (type === 1 ? [feature.geometry] : feature.geometry) as Array<Array<[number, number]>>;
  let x = 0;
  let y = 0;
  for (const ring of rings) {
    pbf.writeVarint(command(1, type === 1 ? ring.length : 1));
    const first = ring[0]!;
    const last = ring[ring.length - 1]!;
    // A polygon ring's closing vertex is implied by ClosePath.
    const count = type === 3 && ring.length > 1 && last[0] === first[0] && last[1] === first[1] ? ring.length - 1 : ring.length;
    for (let i = 0; i < count; i++) {
      if (i === 1 && type !== 1) pbf.writeVarint(command(2, count - 1));
      const point = ring[i]!;
      pbf.writeVarint(zigzag(point[0] - x));
      pbf.writeVarint(zigzag(point[1] - y));
      x = point[0];
      y = point[1];
    }
    if (type === 3) pbf.writeVarint(command(7, 1));
  }
}

function writeValue(value: string | number | boolean, pbf: PbfWriter): void {
  if (typeof value === 'string') pbf.writeStringField(1, value);
  else if (typeof value === 'boolean') pbf.writeBooleanField(7, value);
  else if (value % 1 !== 0) pbf.writeDoubleField(3, value);
  else if (value < 0) pbf.writeSVarintField(6, value);
  else pbf.writeVarintField(5, value);
}
