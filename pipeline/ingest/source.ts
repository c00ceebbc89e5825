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
import { LAMBERT93, openDataset, splitLayer, unreadable } from '../core/datasets.js';
import { UserError } from '../core/errors.js';
import { faultyFeatures, isPlausibleLambert93 } from '../core/coordinates.js';

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

/** A spatial reference that reads coordinates as x=easting/longitude, y=northing/latitude. */
function traditionalSrs(input: string): gdal.SpatialReference {
  const previous = gdal.config.get('OSR_DEFAULT_AXIS_MAPPING_STRATEGY');
  gdal.config.set('OSR_DEFAULT_AXIS_MAPPING_STRATEGY', 'TRADITIONAL_GIS_ORDER');
  try {
    return gdal.SpatialReference.fromUserInput(input);
  } catch (error) {
    throw new UserError(`unknown CRS ${input}: ${error instanceof Error ? error.message : String(error)}`, { remedy: 'use --assume-crs EPSG:XXXX' });
  } finally {
    gdal.config.set('OSR_DEFAULT_AXIS_MAPPING_STRATEGY', previous);
  }
}

function crsLabel(srs: gdal.SpatialReference): string {
  const authority = srs.getAuthorityName(null);
  const code = srs.getAuthorityCode(null);
  if (authority && code) return `${authority}:${code}`;
  return srs.getAttrValue(srs.isProjected() ? 'PROJCS' : 'GEOGCS') ?? 'unnamed CRS';
}

/**
 * Declared (or assumed) CRS, checked against the layer's coordinates, and the transform to EPSG:2154
 * (OCS and commune layers). When the extent fails the check, the features are read to tell a wrong CRS
 * (every feature is off) from a few faulty features (the first is named). `label` names a feature.
 */
export function resolveCrs(
  layer: gdal.Layer,
  file: string,
  assumeCrs: string | undefined,
  label: (feature: gdal.Feature) => string = (feature) => String(feature.fid),
): { crs: string; transform: gdal.CoordinateTransformation | null } {
  let srs = layer.srs;
  let crs: string;
  if (srs) {
    crs = crsLabel(srs);
  } else if (assumeCrs) {
    srs = traditionalSrs(assumeCrs);
    crs = `${crsLabel(srs)} (assumed)`;
  } else {
    throw new UserError('the layer declares no CRS', { file, layer: layer.name, remedy: 'pass --assume-crs EPSG:2154 (or the right code) if you know it' });
  }
  const transform = srs.isSame(LAMBERT93) ? null : new gdal.CoordinateTransformation(srs, LAMBERT93);
  const wrongCrs = (what: string): UserError => {
    const culprit = faultyFeatures(layer, transform, label);
    if (culprit && culprit.faulty < culprit.total) {
      return new UserError(`${culprit.fault}; ${culprit.faulty} of ${culprit.total} features are faulty`, {
        file,
        layer: layer.name,
        feature: culprit.first,
        remedy: 'fix or remove the faulty features',
      });
    }
    return new UserError(`coordinates are not in the declared CRS ${crs}: ${what}`, {
      file,
      layer: layer.name,
      remedy: 'assign the right CRS to the file (ogr2ogr -a_srs EPSG:XXXX) and ingest it again',
    });
  };
  let extent: gdal.Envelope;
  try {
    extent = layer.getExtent();
  } catch {
    // No geometry at all (empty layer or only null geometries): nothing to check; reading reports real faults.
    return { crs, transform };
  }
  if (srs.isGeographic() && (Math.max(Math.abs(extent.minX), Math.abs(extent.maxX)) > 180 || Math.max(Math.abs(extent.minY), Math.abs(extent.maxY)) > 90)) {
    throw wrongCrs(`x ${fmt(extent.minX)}…${fmt(extent.maxX)}, y ${fmt(extent.minY)}…${fmt(extent.maxY)} are not degrees`);
  }
  const corners: Array<[number, number]> = [
    [extent.minX, extent.minY],
    [extent.minX, extent.maxY],
    [extent.maxX, extent.minY],
    [extent.maxX, extent.maxY],
  ];
  for (const [x, y] of corners) {
    let point = { x, y };
    try {
      if (transform) point = transform.transformPoint(x, y);
    } catch {
      throw wrongCrs(`(${fmt(x)}, ${fmt(y)}) cannot be projected to EPSG:2154`);
    }
    if (!isPlausibleLambert93(point.x, point.y)) {
      throw wrongCrs(`(${fmt(x)}, ${fmt(y)}) falls outside metropolitan France once in EPSG:2154`);
    }
  }
  return { crs, transform };
}

const fmt = (n: number): string => String(Math.round(n * 1000) / 1000);

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
