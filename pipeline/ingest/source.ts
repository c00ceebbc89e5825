/**
 * Source side of the ingest stage: opens any OGR dataset, picks the polygon layer, resolves the code
 * fields named by a profile, and decides how coordinates reach EPSG:2154. Everything here runs
 * during preflight, before any output is written, and fails with a one-line `UserError`.
 *
 * @example
 *   const source = openSource({ year: 2019, departement: null, path: 'ocs.gpkg', layer: 'ocsge_2019' },
 *     { roles: profile.roles, overrides: {}, multiDateYear: null, assumeCrs: undefined });
 *   for (let f = source.layer.features.first(); f; f = source.layer.features.next()) …
 *   source.close();
 */
import gdal from 'gdal-async';
import { openDataset, splitLayer, unreadable } from '../core/datasets.js';
import { UserError } from '../core/errors.js';
import { resolveCrs } from '../core/coordinates.js';

export interface VintageSource {
  year: number;
  departement: string | null;
  /** Dataset path; may end with `#layer` when `layer` is not given. */
  path: string;
  layer?: string;
  /**
   * The path to record in the manifest and run_metadata instead of `path`: the delivery member when `path`
   * is an extracted copy (`archive!member`), or the path as written in a config file (relative to it), so
   * that outputs do not change when the inputs move.
   */
  origin?: string;
}

export interface FieldPlan {
  /** Profile roles → candidate field names (matched case-insensitively, first match wins). */
  roles: Readonly<Record<string, readonly string[]>>;
  /** Role → field name given by the user, replacing the candidates. */
  overrides: Record<string, string>;
  /** In a multi-date layer, fields are `<candidate>_<year>` for this year. */
  multiDateYear: number | null;
  /** CRS to use when the layer declares none, e.g. `EPSG:2154`. */
  assumeCrs: string | undefined;
}

export interface OpenedSource {
  file: string;
  dataset: gdal.Dataset;
  layer: gdal.Layer;
  layerName: string;
  /** Role → actual field name in the layer. */
  fields: Record<string, string>;
  /** IGN's official `artif` field, when present. */
  artifField: string | null;
  /** The `ID` field, else null (the OGR FID is used). */
  idField: string | null;
  /** CRS as recorded in the manifest (`EPSG:4326`, or `EPSG:2154 (assumed)`). */
  crs: string;
  /** Null when the layer is already in EPSG:2154. */
  transform: gdal.CoordinateTransformation | null;
  declaredFeatures: number;
  close(): void;
}


const flatType = (type: number): number => (type & 0x7fffffff) % 1000;
const POLYGONAL_TYPES = new Set([3, 6, 10, 12, 15]); // Polygon, MultiPolygon, CurvePolygon, MultiSurface, PolyhedralSurface

function pickLayer(dataset: gdal.Dataset, file: string, wanted: string | undefined): gdal.Layer {
  const layers: gdal.Layer[] = [];
  dataset.layers.forEach((layer) => void layers.push(layer));
  const names = layers.map((layer) => layer.name);
  if (wanted !== undefined) {
    const found = layers.find((layer) => layer.name === wanted) ?? layers.find((layer) => layer.name.toLowerCase() === wanted.toLowerCase());
    if (!found) throw new UserError(`no layer named ${wanted}`, { file, remedy: `layers are: ${names.join(', ') || 'none'}` });
    return found;
  }
  if (layers.length === 1) return layers[0]!;
  // GeoJSON and some Shapefiles report wkbUnknown: such a layer may still hold polygons.
  const polygonal = layers.filter((layer) => POLYGONAL_TYPES.has(flatType(layer.geomType)) || layer.geomType === gdal.wkbUnknown);
  if (polygonal.length === 1) return polygonal[0]!;
  throw new UserError(`${polygonal.length || 'no'} polygon layers (${(polygonal.length ? polygonal : layers).map((l) => l.name).join(', ')})`, {
    file,
    remedy: 'choose one with PATH#layer',
  });
}

/** Field names of a layer, keyed by lower case. */
function fieldIndex(layer: gdal.Layer): Map<string, string> {
  return new Map(layer.fields.getNames().map((name) => [name.toLowerCase(), name]));
}

function resolveFields(layer: gdal.Layer, file: string, plan: FieldPlan): Record<string, string> {
  const index = fieldIndex(layer);
  const suffix = plan.multiDateYear === null ? '' : `_${plan.multiDateYear}`;
  const fields: Record<string, string> = {};
  for (const [role, candidates] of Object.entries(plan.roles)) {
    const wanted = plan.overrides[role] !== undefined ? [plan.overrides[role]!] : candidates;
    const found = wanted.map((name) => index.get(`${name}${suffix}`.toLowerCase())).find((name) => name !== undefined);
    if (!found) {
      const flag = role === 'cs' || role === 'us' ? `--${role}-field NAME or --field ${role}=NAME` : `--field ${role}=NAME`;
      throw new UserError(`no ${role} code field (looked for ${wanted.map((name) => `${name}${suffix}`).join(', ')})`, {
        file,
        layer: layer.name,
        remedy: `the layer's fields are ${layer.fields.getNames().join(', ') || 'none'}; name the right one with ${flag}`,
      });
    }
    fields[role] = found;
  }
  return fields;
}

/** Years for which a multi-date layer carries a field for every role (`code_cs_2019`, `US_2022`…). */
export function multiDateYears(layer: gdal.Layer, roles: Readonly<Record<string, readonly string[]>>, overrides: Record<string, string>): number[] {
  const names = layer.fields.getNames().map((name) => name.toLowerCase());
  let common: Set<number> | undefined;
  for (const [role, candidates] of Object.entries(roles)) {
    const bases = (overrides[role] !== undefined ? [overrides[role]!] : candidates).map((name) => name.toLowerCase());
    const years = new Set<number>();
    for (const name of names) {
      const match = /^(.*)_(\d{4})$/.exec(name);
      if (match && bases.includes(match[1]!)) years.add(Number(match[2]));
    }
    const previous: Set<number> | undefined = common;
    common = previous === undefined ? years : new Set([...previous].filter((year) => years.has(year)));
  }
  return [...(common ?? [])].sort((a, b) => a - b);
}


/** Opens one vintage source and checks layer, fields and CRS. The caller must `close()` it. */
export function openSource(source: VintageSource, plan: FieldPlan): OpenedSource {
  const split = source.layer === undefined ? splitLayer(source.path) : { path: source.path, layer: source.layer };
  const file = split.path;
  const dataset = openDataset(file);
  try {
    let layer: gdal.Layer;
    try {
      layer = pickLayer(dataset, file, split.layer);
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw unreadable(file, error);
    }
    const fields = resolveFields(layer, file, plan);
    const index = fieldIndex(layer);
    const artifName = plan.multiDateYear === null ? 'artif' : `artif_${plan.multiDateYear}`;
    const idField = index.get('id') ?? null;
    const { crs, transform } = resolveCrs(layer, file, plan.assumeCrs, (feature) => featureLabel(feature, idField));
    return {
      file,
      dataset,
      layer,
      layerName: layer.name,
      fields,
      artifField: index.get(artifName) ?? null,
      idField,
      crs,
      transform,
      declaredFeatures: layer.features.count(),
      close: () => dataset.close(),
    };
  } catch (error) {
    dataset.close();
    throw error;
  }
}

/** How a feature is named in messages: its `ID` field, else its OGR FID. */
export function featureLabel(feature: gdal.Feature, idField: string | null): string {
  if (idField === null) return String(feature.fid);
  const value = feature.fields.get(idField);
  return value === null || value === undefined ? '' : String(value).trim();
}

/**
 * Reads IGN's `artif` field: 'artif'/'oui'/1/true → true, 'non artif'/'non'/0/false → false,
 * empty → undefined (the matrix decides). Anything else is a user error.
 */
export function parseArtif(value: unknown): boolean | undefined {
  if (value === null || value === undefined) return undefined;
  const text = String(value).trim().toLowerCase();
  if (text === '') return undefined;
  if (['artif', 'artificialise', 'artificialisé', 'oui', 'o', '1', 'true', 'vrai', 'yes', 'y'].includes(text)) return true;
  if (['non artif', 'non-artif', 'non_artif', 'nonartif', 'non artificialise', 'non artificialisé', 'non', 'n', '0', 'false', 'faux', 'no'].includes(text)) {
    return false;
  }
  throw new UserError(`unrecognised artif value '${String(value)}'`, { remedy: "expected artif/non artif, oui/non, 1/0 or true/false" });
}
