/**
 * The copy of one vintage, the ingest's first step: every source feature classified, its geometry repaired,
 * exploded into single polygons in EPSG:2154 and written, in source order and without index, to
 * `vintage-<key>.unsorted.fgb` for the overlap check (overlaps.ts).
 *
 * The source is first translated by GDAL itself (`vectorTranslate` to a temporary FlatGeobuf of its code and id
 * fields, reprojected to EPSG:2154 by `-t_srs` when its CRS is another, natively) and tested for validity in GDAL's
 * SQLite dialect (SpatiaLite's `ST_IsValid`, GEOS underneath, natively): the copy then reads the coordinates and
 * fields from that file's bytes and writes each polygon with its area (OGR's formula) through the project's encoder
 * (core/flatgeobuf-encoder.ts), with no GDAL feature or geometry per polygon (about 30 µs a feature through
 * gdal-async, docs/PERFORMANCE.md). A feature that is anything but valid, closed, finite 2D polygons within
 * Lambert-93 is read again from the source through GDAL and copied as every feature of a source GDAL does not
 * translate whole is (a feature without geometry, which its FlatGeobuf driver drops; an assumed CRS; a GDAL error):
 * reprojected, checked and repaired one by one (geometry.ts), with the same counters and errors, and then written by
 * GDAL. Every way gives the same bytes.
 *
 * @example
 *   const copied = copyVintage(openSource(source, plan), task, nomenclature, profile, logger);
 *   copied.staged; // polygons written to <tempDir>/vintage-<key>.unsorted.fgb
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import gdal from 'gdal-async';
import { classify, unclassified } from '../../nomenclature/classify.js';
import type { Nomenclature, Profile } from '../../nomenclature/loader.js';
import { UserError } from '../core/errors.js';
import type { Logger, Progress } from '../core/log.js';
import { STAGED_FIELDS, type LandClasses } from '../core/types.js';
import { gdalFailure, LAMBERT93, unreadable } from '../core/datasets.js';
import { isPlausibleLambert93, toLambert93 } from '../core/coordinates.js';
import { ColumnType, FlatGeobufReader, type Box, type PropertyValue } from '../core/flatgeobuf.js';
import { FeatureEncoder, GDAL_FIELD_TYPES, UnsortedFlatGeobufWriter } from '../core/flatgeobuf-encoder.js';
import { polygonRingCoordinates } from '../core/wkb.js';
import { featureLabel, parseArtif, type OpenedSource } from './source.js';
import { newRepairs, polygonParts, type Repairs } from './geometry.js';
import type { VintageTask } from './index.js';

interface UnknownCode {
  count: number;
  example: string;
}

export interface Copied {
  read: number;
  staged: number;
  repairs: Repairs;
  unknown: Map<string, UnknownCode>;
  firstDuplicate: string;
  withoutPolygon: Map<string, number>;
}

/** A vintage written to its staged file, before its overlap check: what the copy hands to the check. */
export interface CopiedVintage extends Copied {
  copySeconds: number;
  file: string;
  layerName: string;
  idField: string | null;
  crs: string;
}

/** The copy, in source order and without index, until the overlap check writes the staged file. */
export const unsortedFileName = (key: string): string => `vintage-${key}.unsorted.fgb`;

/** Reads, classifies, repairs and writes one vintage. */
export function copyVintage(opened: OpenedSource, task: VintageTask, nomenclature: Nomenclature, profile: Profile, logger: Logger): CopiedVintage {
  const { key } = task;
  const report = task.options.unknownCodes === 'report';
  const progress = logger.progress(`ingest ${key}`);
  const output = path.join(task.tempDir, unsortedFileName(key));
  const translatedFile = path.join(task.tempDir, `vintage-${key}.source.fgb`);
  let copied: Copied;
  /** How the features were read, for the log. */
  let way = 'one by one';
  try {
    const translation = translateSource(opened, Object.keys(profile.roles), translatedFile);
    const copyFile = translation ? new EncodedCopy(output, key) : new GdalCopy(output, key);
    try {
      const copy = new FeatureCopy(opened, nomenclature, profile, report, copyFile, progress);
      if (translation) way = `from GDAL's translation, ${copyTranslated(translation, copy)} read again one by one`;
      else copySourceFeatures(copy);
      copied = copy.result();
    } finally {
      // Closed even on failure, while the temporary directory still exists: the header is written on close.
      copyFile.close();
    }
  } finally {
    rmSync(translatedFile, { force: true });
  }
  const { read, unknown, withoutPolygon } = copied;
  const timing = progress.done();
  if (unknown.size > 0 && !report) {
    throw new UserError(`${unknown.size} unknown or missing code${unknown.size > 1 ? 's' : ''}: ${describeUnknown(unknown)}`, {
      file: opened.file,
      layer: opened.layerName,
      remedy: 'map them in a profile (--profile) or pass --unknown-codes=report to stage them as unclassified',
    });
  }
  if (copied.staged === 0) {
    const kinds = [...withoutPolygon].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([kind, n]) => (kind ? `${n} ${kind} feature${n > 1 ? 's' : ''}` : `${n} feature${n > 1 ? 's' : ''} without geometry`));
    // A vintage without land would shift every period after it: refuse it rather than drop it.
    throw new UserError(`vintage ${key}: no polygon, ${kinds.join(', ') || 'no feature'}`, {
      file: opened.file,
      layer: opened.layerName,
      remedy: 'name the polygon layer of this vintage (PATH#layer) or leave the vintage out',
    });
  }
  logger.info(`ingest ${key}: ${read} features copied (${way}) in ${timing.seconds.toFixed(1)} s; the overlap check within the vintage follows`);
  return { ...copied, copySeconds: timing.seconds, file: opened.file, layerName: opened.layerName, idField: opened.idField, crs: opened.crs };
}

/** What is done to every source feature, whichever way it is read: its classes, its polygons, the counters. */
class FeatureCopy {
  private read = 0;
  private staged = 0;
  private readonly repairs = newRepairs();
  private readonly unknown = new Map<string, UnknownCode>();
  private readonly seenIds: Set<string> | null;
  private firstDuplicate = '';
  /** Features that gave no polygon, by geometry type ('' for none): the reason when a whole vintage gives none. */
  private readonly withoutPolygon = new Map<string, number>();
  private readonly roles: string[];
  private readonly where: { file: string; layer: string };

  constructor(
    readonly opened: OpenedSource,
    private readonly nomenclature: Nomenclature,
    private readonly profile: Profile,
    private readonly report: boolean,
    private readonly output: EncodedCopy | GdalCopy,
    private readonly progress: Progress,
  ) {
    this.roles = Object.keys(profile.roles);
    this.seenIds = opened.idField ? new Set<string>() : null;
    this.where = { file: opened.file, layer: opened.layerName };
  }

  /** The classes of the next source feature, or null when its codes are unknown and not staged (it is skipped). */
  classes(id: string, field: (name: string) => unknown): LandClasses | null {
    // Ticks in batches: a clock read per feature costs more than the feature's attributes.
    if (++this.read % 256 === 0) this.progress.tick(256);
    if (this.seenIds) {
      if (!this.seenIds.has(id)) this.seenIds.add(id);
      else if (this.repairs.duplicate_ids++ === 0) this.firstDuplicate = id;
    }
    const values: Record<string, string> = {};
    for (const role of this.roles) values[role] = text(field(this.opened.fields[role]!));
    let official: boolean | undefined;
    try {
      official = this.opened.artifField ? parseArtif(field(this.opened.artifField)) : undefined;
    } catch (error) {
      if (error instanceof UserError) throw new UserError(error.message, { ...this.where, feature: id, remedy: error.context.remedy });
      throw error;
    }
    const classes = classify(this.nomenclature, this.profile, values, official);
    if (classes) return classes;
    const label = this.roles.map((role) => values[role] || '<missing>').join(' × ');
    const entry = this.unknown.get(label);
    if (entry) entry.count++;
    else this.unknown.set(label, { count: 1, example: id });
    if (!this.report) return null;
    this.repairs.unclassified_features++;
    return unclassified(this.nomenclature, this.profile, values);
  }

  /** Writes polygons known to be valid, closed and within Lambert-93 (`checkedBoxes`), their areas as OGR computes them. */
  writePolygons(id: string, classes: LandClasses, polygons: Float64Array[][], boxes: Box[]): void {
    if (!(this.output instanceof EncodedCopy)) throw new Error('polygons from the translation written without the encoder');
    if (polygons.length > 1) this.repairs.multipart_exploded++;
    for (const [i, rings] of polygons.entries()) {
      this.output.addRings(stagedValues(id, classes, polygonArea(rings)), rings, boxes[i]!);
      this.staged++;
    }
  }

  /** Checks, reprojects, repairs and writes a geometry read through GDAL. */
  writeGeometry(id: string, classes: LandClasses, geometry: gdal.Geometry | null): void {
    if (geometry) {
      const fault = toLambert93(geometry, this.opened.transform);
      if (fault) throw new UserError(fault, { ...this.where, feature: id, remedy: 'fix or remove this feature' });
    }
    let parts: gdal.Polygon[];
    try {
      parts = polygonParts(geometry, this.repairs);
    } catch (error) {
      if (error instanceof UserError) throw new UserError(error.message, { ...this.where, feature: id, remedy: error.context.remedy });
      throw error;
    }
    if (parts.length === 0) {
      const kind = geometry && !geometry.isEmpty() ? gdal.Geometry.getName(geometry.wkbType) : '';
      this.withoutPolygon.set(kind, (this.withoutPolygon.get(kind) ?? 0) + 1);
    }
    for (const polygon of parts) {
      this.output.addPolygon(stagedValues(id, classes, polygon.getArea()), polygon);
      this.staged++;
    }
  }

  result(): Copied {
    this.progress.tick(this.read % 256);
    return { read: this.read, staged: this.staged, repairs: this.repairs, unknown: this.unknown, firstDuplicate: this.firstDuplicate, withoutPolygon: this.withoutPolygon };
  }

  get featuresRead(): number {
    return this.read;
  }
}

/** A polygon's fields, in STAGED_FIELDS order. */
function stagedValues(id: string, classes: LandClasses, area: number): Array<string | number> {
  return [
    id,
    classes.codeCs,
    classes.codeUs,
    classes.category,
    classes.artificialised ? 1 : 0,
    classes.artifRule,
    classes.sealed ? 1 : 0,
    classes.enaf,
    classes.destination ?? '',
    area,
  ];
}

/** The copy encoded by the project, for a source GDAL translated: no GDAL feature or geometry per polygon. */
class EncodedCopy {
  private readonly writer: UnsortedFlatGeobufWriter;
  private readonly encoder = new FeatureEncoder(Object.values(STAGED_FIELDS));

  constructor(file: string, key: string) {
    this.writer = new UnsortedFlatGeobufWriter(file, `vintage-${key}`, LAMBERT93, STAGED_FIELDS);
  }

  addRings(values: Array<string | number>, rings: Float64Array[], box: Box): void {
    this.writer.add(this.encoder.encode(values, rings), box);
  }

  /** A polygon read again through GDAL (a feature of the translation the copy could not vouch for). */
  addPolygon(values: Array<string | number>, polygon: gdal.Polygon): void {
    const { minX, minY, maxX, maxY } = polygon.getEnvelope();
    this.addRings(values, polygonRingCoordinates(polygon.toWKB()), { minX, minY, maxX, maxY });
  }

  close(): void {
    this.writer.close();
  }
}

/**
 * The copy written by GDAL, for a source copied feature by feature: handing it GDAL's own polygon costs a few µs,
 * where taking its coordinates out for the encoder (`toWKB`) costs about 10.
 */
class GdalCopy {
  private readonly dataset: gdal.Dataset;
  /** One feature for every polygon: the writer copies it, so no wrapper per polygon is left to the GC. */
  private readonly feature: gdal.Feature;
  private readonly layer: gdal.Layer;

  constructor(file: string, key: string) {
    this.dataset = gdal.drivers.get('FlatGeobuf').create(file);
    // No index: GDAL would sort and index the copy at its close, and the check writes the vintage again, sorted and indexed.
    this.layer = this.dataset.layers.create(`vintage-${key}`, LAMBERT93, gdal.wkbPolygon, ['SPATIAL_INDEX=NO']);
    for (const [name, type] of Object.entries(STAGED_FIELDS)) this.layer.fields.add(new gdal.FieldDefn(name, GDAL_FIELD_TYPES[type]));
    this.feature = new gdal.Feature(this.layer);
  }

  addPolygon(values: Array<string | number>, polygon: gdal.Polygon): void {
    this.feature.fields.set(values);
    this.feature.setGeometry(polygon);
    this.layer.features.add(this.feature);
  }

  close(): void {
    this.dataset.close();
  }
}

/** Every source feature through GDAL, one by one (a source GDAL does not translate whole). */
function copySourceFeatures(copy: FeatureCopy): void {
  const { opened } = copy;
  const layer = opened.layer;
  const next = (first: boolean): gdal.Feature | null => {
    try {
      return first ? layer.features.first() : layer.features.next();
    } catch (error) {
      throw unreadable(opened.file, error, opened.layerName);
    }
  };
  gdal.lastError = null;
  for (let feature = next(true); feature; feature = next(false)) {
    const id = featureLabel(feature, opened.idField);
    const classes = copy.classes(id, (name) => feature.fields.get(name));
    if (!classes) continue;
    let geometry: gdal.Geometry | null;
    try {
      geometry = feature.getGeometry();
    } catch (error) {
      throw unreadable(opened.file, error, opened.layerName);
    }
    copy.writeGeometry(id, classes, geometry);
  }
  // A truncated file can end the feature loop early without a GDAL exception: check GDAL's error and the header count.
  const failure = gdalFailure();
  if (failure !== null) throw unreadable(opened.file, new Error(failure), opened.layerName);
  if (opened.declaredFeatures >= 0 && copy.featuresRead !== opened.declaredFeatures) {
    throw unreadable(opened.file, new Error(`read ${copy.featuresRead} features, the header declares ${opened.declaredFeatures}`), opened.layerName);
  }
}

/** The source's FID in the translation: a name no source field is likely to have. */
const SOURCE_FID = 'ocs_zan_source_fid';
/** Column types read from the translation as gdal-async reads them from the source (a Bool or a date would not be). */
const TRANSLATED_TYPES = new Set([ColumnType.String, ColumnType.Int, ColumnType.Long, ColumnType.Double]);
/** Beyond this many features with a NaN or infinite coordinate, the source is copied feature by feature. */
const MAX_NON_FINITE = 1000;

interface Translated {
  reader: FlatGeobufReader;
  /** Positions of the translation's features that GEOS does not find valid. */
  invalid: Set<number>;
}

/**
 * The source's fields the copy reads and its geometries, translated by GDAL into `file` (in EPSG:2154), and which of
 * them are not valid; null when GDAL does not give them exactly as the copy reads them one by one: an assumed CRS, a
 * name the SQL cannot quote, a GDAL error, a missing feature, a field type read otherwise, no SQLite dialect.
 */
function translateSource(opened: OpenedSource, roles: string[], file: string): Translated | null {
  // An assumed CRS (--assume-crs) is not the layer's own: GDAL's translation would need it passed as -s_srs.
  if (opened.transform && !opened.layer.srs) return null;
  const fields = [...new Set([opened.idField, ...roles.map((role) => opened.fields[role]!), opened.artifField].filter((name): name is string => name !== null))];
  if ([opened.layerName, ...fields].some((name) => name.includes('"'))) return null;
  const quote = (name: string): string => `"${name}"`;
  const sql = `SELECT FID AS ${SOURCE_FID}, ${fields.map(quote).join(', ')} FROM ${quote(opened.layerName)}`;
  gdal.lastError = null;
  try {
    const reprojection = opened.transform ? ['-t_srs', 'EPSG:2154'] : [];
    gdal.vectorTranslate(file, opened.dataset, ['-f', 'FlatGeobuf', '-dialect', 'OGRSQL', '-sql', sql, '-nln', 'source', '-lco', 'SPATIAL_INDEX=NO', '-dim', 'XY', ...reprojection]).close();
  } catch {
    return null;
  }
  if (gdalFailure() !== null) return null;
  let reader: FlatGeobufReader;
  try {
    reader = FlatGeobufReader.open(file, { anyGeometry: true });
  } catch {
    // GDAL writes no FlatGeobuf for a layer without any geometry.
    return null;
  }
  const nonFinite = reader.count === opened.declaredFeatures && reader.columns.every((column) => TRANSLATED_TYPES.has(column.type)) ? reader.nonFinitePositions() : null;
  const invalid = nonFinite && nonFinite.length <= MAX_NON_FINITE ? invalidFeatures(file, nonFinite) : null;
  if (invalid) return { reader, invalid };
  reader.close();
  return null;
}

/**
 * Positions of the features whose geometry SpatiaLite's `ST_IsValid` (GEOS) does not find valid or that have a
 * non-finite coordinate (`nonFinite`, not handed to GEOS, which would print a warning on stderr), or null when the SQLite
 * dialect fails.
 */
function invalidFeatures(file: string, nonFinite: number[]): Set<number> | null {
  const dataset = gdal.open(file);
  try {
    const test = nonFinite.length > 0 ? `CASE WHEN rowid IN (${nonFinite.join(', ')}) THEN 1 ELSE ST_IsValid(geometry) IS NOT 1 END` : 'ST_IsValid(geometry) IS NOT 1';
    const result = dataset.executeSQL(`SELECT rowid AS position FROM source WHERE ${test}`, undefined, 'SQLITE');
    const invalid = new Set<number>();
    for (let feature = result.features.first(); feature; feature = result.features.next()) invalid.add(feature.fields.get('position') as number);
    return invalid;
  } catch {
    return null;
  } finally {
    dataset.close();
  }
}

/** The copy from GDAL's translation: features it cannot vouch for are read again from the source by FID (how many). */
function copyTranslated({ reader, invalid }: Translated, copy: FeatureCopy): number {
  let readAgain = 0;
  const { opened } = copy;
  const columns = new Map(reader.columns.map((column, i) => [column.name, i]));
  const fidColumn = columns.get(SOURCE_FID)!;
  try {
    for (const feature of reader.sourceFeatures()) {
      const properties = feature.properties;
      const fid = properties[fidColumn] as number;
      const field = (name: string): PropertyValue => properties[columns.get(name)!] ?? null;
      const id = opened.idField === null ? String(fid) : text(field(opened.idField));
      const classes = copy.classes(id, field);
      if (!classes) continue;
      const boxes = feature.polygons && !invalid.has(feature.index) ? checkedBoxes(feature.polygons) : null;
      if (boxes) copy.writePolygons(id, classes, feature.polygons!, boxes);
      else {
        readAgain++;
        copy.writeGeometry(id, classes, sourceGeometry(opened, fid));
      }
    }
  } finally {
    reader.close();
  }
  return readAgain;
}

function sourceGeometry(opened: OpenedSource, fid: number): gdal.Geometry | null {
  try {
    return opened.layer.features.get(fid).getGeometry();
  } catch (error) {
    throw unreadable(opened.file, error, opened.layerName);
  }
}

/** Each polygon's box when every ring is closed and every point finite and within Lambert-93, else null. */
function checkedBoxes(polygons: Float64Array[][]): Box[] | null {
  const boxes: Box[] = [];
  for (const rings of polygons) {
    let minX = Infinity;
    let minY = Infinity;
    let maxX = -Infinity;
    let maxY = -Infinity;
    for (const ring of rings) {
      const n = ring.length;
      if (n < 8 || ring[0] !== ring[n - 2] || ring[1] !== ring[n - 1]) return null;
      for (let i = 0; i < n; i += 2) {
        const x = ring[i]!;
        const y = ring[i + 1]!;
        // NaN fails every comparison: caught here, not by the box.
        if (!(x === x && y === y)) return null;
        if (x < minX) minX = x;
        if (x > maxX) maxX = x;
        if (y < minY) minY = y;
        if (y > maxY) maxY = y;
      }
    }
    if (!isPlausibleLambert93(minX, minY) || !isPlausibleLambert93(maxX, maxY)) return null;
    boxes.push({ minX, minY, maxX, maxY });
  }
  return boxes;
}

/** OGR's polygon area (OGRCurvePolygon::get_Area): the shell's less the holes', each by OGR's ring formula. */
function polygonArea(rings: Float64Array[]): number {
  let area = ringArea(rings[0]!);
  for (let r = 1; r < rings.length; r++) area -= ringArea(rings[r]!);
  return area;
}

/** OGRSimpleCurve::get_LinearArea, operation for operation: the same double as GDAL's `getArea()`. */
function ringArea(ring: Float64Array): number {
  const n = ring.length / 2;
  const x = (i: number): number => ring[2 * i]!;
  const y = (i: number): number => ring[2 * i + 1]!;
  let sum = x(0) * (y(1) - y(n - 1));
  for (let i = 1; i < n - 1; i++) sum += x(i) * (y(i + 1) - y(i - 1));
  sum += x(n - 1) * (y(0) - y(n - 2));
  return 0.5 * Math.abs(sum);
}

function text(value: unknown): string {
  return value === null || value === undefined ? '' : String(value).trim();
}

/** `CS9 × US1 (3 features, e.g. feature 12); …`, most frequent first, at most 20. */
function describeUnknown(unknown: Map<string, UnknownCode>): string {
  const entries = [...unknown].sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]));
  const shown = entries
    .slice(0, 20)
    .map(([label, { count, example }]) => `${label} (${count} feature${count > 1 ? 's' : ''}, e.g. feature ${example})`)
    .join('; ');
  return entries.length > 20 ? `${shown}; and ${entries.length - 20} more` : shown;
}
