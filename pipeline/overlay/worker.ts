/**
 * Overlay worker: for one partition (a group of nearby communes) it reads only the staged polygons
 * that meet one of its communes' boxes (searched in the FlatGeobuf index, decoded by core/flatgeobuf.ts), cuts
 * each commune into atomic pieces, one class per covering vintage, and writes its own Parquet parts.
 * The result for a commune depends only on that commune and the staged polygons around it (a piece's candidates
 * are taken in file order, those whose box lies in the piece's first), never on the partition: that is what makes
 * `--jobs` irrelevant.
 *
 * Per commune, the vintages are chained: pieces₀ = the commune; piecesₖ = piecesₖ₋₁ overlaid with
 * vintage k. Fast paths: a piece whose normalised geometry hash equals a vintage polygon's takes its
 * class directly; a vintage polygon contained in the piece is kept whole; a piece inside a vintage
 * polygon is kept whole; `difference` is skipped when the intersections already fill the piece.
 */
import path from 'node:path';
import Flatbush from 'flatbush';
import gdal from 'gdal-async';
import { UserError } from '../core/errors.js';
import { FlatGeobufReader, polygonWkb, type Box, type ColumnMask, type PropertyValue, type StagedPolygon } from '../core/flatgeobuf.js';
import { polygonHash, polygonalParts, ringsHash, robustDifference, robustIntersection, unionAll } from '../core/polygons.js';
import { PreparedPolygon } from './prepared-polygon.js';
import { applyThresholds, type ThresholdRules } from './thresholds.js';
import { loadNomenclature } from '../../nomenclature/loader.js';
import { serveTasks } from '../core/worker-pool.js';
import type { DuckDBInstance } from '@duckdb/node-api';
import { appendRows, openDuckDB } from '../core/duckdb.js';
import { sqlString } from '../core/sql.js';

export interface WorkerVintage {
  key: string;
  year: number;
  departement: string | null;
  path: string;
}

export interface PartitionCommune {
  code: string;
  departement: string;
  geomWkb: Buffer;
}

export interface PartitionTask {
  id: number;
  communes: PartitionCommune[];
  /** Vintages in chaining order (year, then key). */
  vintages: WorkerVintage[];
  /** Directory receiving `part-<id>-piece.parquet` and `part-<id>-class.parquet`. */
  partDir: string;
  /** Threshold rules for matrix-classified vintages (pipeline/overlay/thresholds.ts); null = --no-thresholds. */
  thresholds: ThresholdRules | null;
}

export interface CommuneVintageArea {
  commune_code: string;
  key: string;
  covered_m2: number;
  uncovered_m2: number;
}

export interface PartitionResult {
  id: number;
  pieceFile: string;
  classFile: string;
  polygonsRead: number;
  pieces: number;
  intersections: number;
  differences: number;
  differencesSkipped: number;
  fastIdentical: number;
  fastContained: number;
  fastWithin: number;
  slivers: number;
  sliversM2: number;
  /** Area left out when intersections filled a piece within the relative tolerance (no `difference`). */
  unfilledM2: number;
  /** Pieces where polygons of one vintage overlapped (resolved: lowest file order wins). */
  vintageOverlaps: number;
  /** Piece classes the threshold rules moved to the other side, and their area. */
  thresholdClasses: number;
  thresholdM2: number;
  /** CPU time of the worker on this partition (user + system). */
  cpuSeconds: number;
  communeVintages: CommuneVintageArea[];
}

/** Pieces smaller than this (m²) are rounding slivers: dropped, and counted. */
export const SLIVER_M2 = 1e-6;
/** Relative tolerance under which intersections are taken to fill a piece (no `difference`). */
const FILL_TOLERANCE = 1e-9;
/** Pieces with this many candidates get a prepared boundary index (typically the commune itself). */
const PREPARE_FROM = 16;

interface StagedClass {
  /** Its row in this worker's class table (`internClass`): polygons of one class share one object. */
  id: number;
  code_cs: string;
  code_us: string;
  category: number;
  artificialised: boolean;
  artif_rule: string;
  sealed: boolean;
  enaf: string;
  destination: string | null;
}

interface StagedSet {
  /** Each polygon's rings (its fields are read once, into `classes`). */
  rings: Float64Array[][];
  /** GEOS geometries, made only for the polygons that meet geometry work (`geometryOf`). */
  geoms: Array<gdal.Polygon | undefined>;
  envelopes: Box[];
  classes: StagedClass[];
  hashes: Array<string | undefined>;
  index: Flatbush | null;
}

const geometryOf = (set: StagedSet, i: number): gdal.Polygon =>
  (set.geoms[i] ??= gdal.Geometry.fromWKB(polygonWkb(set.rings[i]!)) as gdal.Polygon);

interface Piece {
  geom: gdal.Polygon;
  area: number;
  hash?: string;
  /**
   * Its rings when it is a staged polygon kept whole (most pieces): hashing it, finding its neighbours and writing
   * it then read them instead of asking GDAL for its WKB, which costs more than the hash itself.
   */
  rings?: readonly Float64Array[];
  /** One entry per vintage applied so far (null: not covered by it). */
  classes: Array<StagedClass | null>;
}

const stagedFiles = new Map<string, StagedFile>();

interface StagedFile {
  reader: FlatGeobufReader;
  classColumns: ColumnMask;
  /** The class behind each key of `readKeyed` met so far: its fields are decoded once. */
  classByKey: Map<string, StagedClass>;
  classOf: (properties: PropertyValue[]) => StagedClass;
}

/** The fields of a staged polygon that its classes are made of. */
const CLASS_COLUMNS = ['code_cs', 'code_us', 'category', 'artif', 'artif_rule', 'sealed', 'enaf', 'destination'] as const;

function openVintage(vintage: WorkerVintage): StagedFile {
  let file = stagedFiles.get(vintage.path);
  if (!file) {
    let reader: FlatGeobufReader;
    try {
      reader = FlatGeobufReader.open(vintage.path);
    } catch (error) {
      throw new UserError(`cannot open staged vintage: ${(error as Error).message}`, { file: vintage.path, remedy: 'run the ingest stage again' });
    }
    file = { reader, classColumns: reader.columnMask(CLASS_COLUMNS), classByKey: new Map(), classOf: stagedClassReader(reader) };
    stagedFiles.set(vintage.path, file);
  }
  return file;
}

/**
 * The staged polygons that meet one of the given boxes (the partition's communes): one search per commune reads
 * far fewer polygons than one over the whole partition, whose box spans the gaps between communes. "Meet" is
 * GDAL's spatial filter, which these reads replace: the box test of the index, then an exact one.
 */
function readStaged(vintage: WorkerVintage, boxes: gdal.Envelope[]): StagedSet {
  const { reader, classColumns, classByKey, classOf } = openVintage(vintage);
  const classOfKey = (key: string): StagedClass => {
    let cls = classByKey.get(key);
    if (!cls) classByKey.set(key, (cls = classOf(reader.valuesOfKey(key))));
    return cls;
  };
  // Only the rings, box and class of each polygon are kept for the partition: what else a read makes dies young
  // instead of being copied by every scavenge until the partition is read.
  const kept = new Map<number, { rings: Float64Array[]; box: Box; cls: StagedClass }>();
  for (const box of boxes) {
    const hits = reader.search(box).filter((hit) => !kept.has(hit.index));
    for (const polygon of reader.readKeyed(hits, classColumns)) {
      if (meetsBox(polygon, box)) kept.set(polygon.index, { rings: polygon.rings, box: polygon.box, cls: classOfKey(polygon.key) });
    }
  }
  // File order, so that a commune sees its candidates in the same order whatever the partition.
  const polygons = [...kept].sort((a, b) => a[0] - b[0]).map(([, polygon]) => polygon);
  const set: StagedSet = {
    rings: polygons.map((p) => p.rings),
    geoms: new Array(polygons.length),
    envelopes: polygons.map((p) => p.box),
    classes: polygons.map((p) => p.cls),
    hashes: new Array(polygons.length),
    index: null,
  };
  if (polygons.length > 0) {
    const index = new Flatbush(polygons.length);
    for (const e of set.envelopes) index.add(e.minX, e.minY, e.maxX, e.maxY);
    index.finish();
    set.index = index;
  }
  return set;
}

/**
 * The distinct classes met by this worker, by id: a few hundred where a partition reads tens of thousands of
 * polygons, so one object each spares the collector, and the parts name a class by its id.
 */
const classTable: StagedClass[] = [];
const classIds = new Map<string, number>();

function internClass(cls: Omit<StagedClass, 'id'>): StagedClass {
  const key = [cls.code_cs, cls.code_us, cls.category, cls.artificialised, cls.artif_rule, cls.sealed, cls.enaf, cls.destination ?? '\u0001'].join('\u0000');
  let id = classIds.get(key);
  if (id === undefined) {
    // The id last: a class derived from another (the threshold rules) must not keep the other's.
    id = classTable.push({ ...cls, id: classTable.length }) - 1;
    classIds.set(key, id);
  }
  return classTable[id]!;
}

/** The classes of a staged polygon, from its fields. */
function stagedClassReader(reader: FlatGeobufReader): (properties: PropertyValue[]) => StagedClass {
  const [codeCs, codeUs, category, artif, artifRule, sealed, enaf, destination] = CLASS_COLUMNS.map((name) => reader.columnIndex(name)) as [
    number, number, number, number, number, number, number, number,
  ];
  return (f) =>
    internClass({
      code_cs: String(f[codeCs] ?? ''),
      code_us: String(f[codeUs] ?? ''),
      category: Number(f[category] ?? 0),
      artificialised: Number(f[artif]) === 1,
      artif_rule: String(f[artifRule] ?? ''),
      sealed: Number(f[sealed]) === 1,
      enaf: String(f[enaf] ?? ''),
      destination: f[destination] ? String(f[destination]) : null,
    });
}

/**
 * Whether a polygon whose index box meets `box` meets the box itself, as GDAL's spatial filter decides (its box
 * inside, a shell vertex inside, else GEOS `intersects` with the rectangle, which only polygons along the box's
 * edges reach).
 */
function meetsBox(polygon: Pick<StagedPolygon, 'rings' | 'box'>, box: Box): boolean {
  const shell = polygon.rings[0];
  if (!shell || shell.length === 0) return false;
  const e = polygon.box;
  if (e.minX >= box.minX && e.maxX <= box.maxX && e.minY >= box.minY && e.maxY <= box.maxY) return true;
  for (let i = 0; i < shell.length; i += 2) {
    if (shell[i]! >= box.minX && shell[i]! <= box.maxX && shell[i + 1]! >= box.minY && shell[i + 1]! <= box.maxY) return true;
  }
  const rectangle = new Float64Array([box.minX, box.minY, box.minX, box.maxY, box.maxX, box.maxY, box.maxX, box.minY, box.minX, box.minY]);
  return gdal.Geometry.fromWKB(polygonWkb([rectangle])).intersects(gdal.Geometry.fromWKB(polygonWkb(polygon.rings)));
}

const envelopeWithin = (inner: Box, outer: Box): boolean =>
  inner.minX >= outer.minX && inner.maxX <= outer.maxX && inner.minY >= outer.minY && inner.maxY <= outer.maxY;

type Counters = Omit<PartitionResult, 'id' | 'pieceFile' | 'classFile' | 'polygonsRead' | 'pieces' | 'cpuSeconds' | 'communeVintages' | 'thresholdClasses' | 'thresholdM2'>;

/** The class of the same CS × US pair on the other side of the artificialised line, decided by the thresholds. */
function thresholdClass(cls: StagedClass, artificialised: boolean): StagedClass {
  const category = loadNomenclature().classify(cls.code_cs, cls.code_us, artificialised)!.category;
  return internClass({ ...cls, category, artificialised, artif_rule: 'threshold' });
}

function keepPiece(out: Piece[], geom: gdal.Polygon, classes: Array<StagedClass | null>, counters: Counters, whole?: Pick<Piece, 'rings' | 'hash'>): number {
  const area = geom.getArea();
  if (area < SLIVER_M2) {
    counters.slivers++;
    counters.sliversM2 += area;
    return 0;
  }
  out.push({ geom, area, classes, ...whole });
  return area;
}

/** The normalised hash of staged polygon i, computed once. */
const stagedHash = (staged: StagedSet, i: number): string => (staged.hashes[i] ??= ringsHash(staged.rings[i]!));

/** What a piece made of staged polygon i whole keeps of it. */
const wholeStaged = (staged: StagedSet, i: number): Pick<Piece, 'rings' | 'hash'> => ({ rings: staged.rings[i]!, hash: stagedHash(staged, i) });

/** pieces overlaid with one vintage's polygons (those whose box meets the commune's box). */
function overlayVintage(pieces: Piece[], staged: StagedSet, candidates: number[], counters: Counters): Piece[] {
  if (candidates.length === 0) return pieces.map((p) => ({ ...p, classes: [...p.classes, null] }));
  const byHash = new Map<string, number>();
  for (const i of candidates) {
    const hash = stagedHash(staged, i);
    if (!byHash.has(hash)) byHash.set(hash, i);
  }
  const out: Piece[] = [];
  for (const piece of pieces) {
    const same = byHash.get((piece.hash ??= polygonHash(piece.geom)));
    if (same !== undefined) {
      counters.fastIdentical++;
      out.push({ ...piece, classes: [...piece.classes, staged.classes[same]!] });
      continue;
    }
    const pe = piece.geom.getEnvelope();
    // Pieces lie inside the commune, so their candidates are among the commune's.
    const hits = staged.index!.search(pe.minX, pe.minY, pe.maxX, pe.maxY).sort((a, b) => a - b);
    // A piece inside one polygon (unchanged land cut by a commune border) takes its class whole; looking for
    // it first spares intersections with the neighbours that merely touch the piece.
    const within = hits.find((i) => envelopeWithin(pe, staged.envelopes[i]!) && geometryOf(staged, i).contains(piece.geom));
    if (within !== undefined) {
      counters.fastWithin++;
      out.push({ ...piece, classes: [...piece.classes, staged.classes[within]!] });
      continue;
    }
    const start = out.length;
    const parts: gdal.Polygon[] = [];
    let covered = 0;
    const prepared = hits.length >= PREPARE_FROM ? PreparedPolygon.from(piece.geom) : null;
    // Polygons whose box lies in the piece's first: they usually fill it, and the loop stops before the neighbours
    // that merely touch it, each of which would cost an intersection (most of them empty or a sliver).
    const inPiece: number[] = [];
    const around: number[] = [];
    for (const i of hits) (envelopeWithin(staged.envelopes[i]!, pe) ? inPiece : around).push(i);
    const fillOrder = inPiece.concat(around);
    for (const i of fillOrder) {
      // Once the piece is filled, the remaining candidates can only touch it (a vintage is a partition).
      if (covered >= piece.area * (1 - FILL_TOLERANCE)) break;
      const ve = staged.envelopes[i]!;
      const location = prepared?.locateBox(ve);
      // Before its GEOS geometry is made: most of a commune's candidates outside it are settled by their box.
      if (location === 'outside') continue;
      const v = geometryOf(staged, i);
      const classes = [...piece.classes, staged.classes[i]!];
      if (location === 'inside') {
        counters.fastContained++;
        parts.push(v);
        covered += keepPiece(out, v, classes, counters, wholeStaged(staged, i));
        continue;
      }
      if (envelopeWithin(ve, pe) && piece.geom.contains(v)) {
        counters.fastContained++;
        parts.push(v);
        covered += keepPiece(out, v, classes, counters, wholeStaged(staged, i));
        continue;
      }
      counters.intersections++;
      for (const part of polygonalParts(piece.geom.intersection(v))) {
        parts.push(part);
        covered += keepPiece(out, part, classes, counters);
      }
    }
    if (covered > piece.area * (1 + FILL_TOLERANCE)) {
      // Polygons of one vintage overlap here: redo the piece, each polygon taking only what earlier ones left.
      out.length = start;
      counters.vintageOverlaps++;
      overlayOverlapping(piece, staged, hits, out, counters);
      continue;
    }
    if (covered >= piece.area * (1 - FILL_TOLERANCE)) {
      if (parts.length > 0) counters.differencesSkipped++;
      counters.unfilledM2 += Math.max(0, piece.area - covered);
      continue;
    }
    const taken = unionAll(parts);
    counters.differences++;
    const rest = taken ? polygonalParts(piece.geom.difference(taken)) : [piece.geom];
    for (const part of rest) keepPiece(out, part, [...piece.classes, null], counters);
  }
  return out;
}

/** Slow path for overlapping polygons within a vintage: the first in file order wins each m². */
function overlayOverlapping(piece: Piece, staged: StagedSet, hits: number[], out: Piece[], counters: Counters): void {
  let rest: gdal.Geometry = piece.geom;
  for (const i of hits) {
    if (rest.isEmpty()) break;
    counters.intersections++;
    const taken = polygonalParts(robustIntersection(rest, geometryOf(staged, i)));
    if (taken.length === 0) continue;
    for (const part of taken) keepPiece(out, part, [...piece.classes, staged.classes[i]!], counters);
    counters.differences++;
    rest = robustDifference(rest, geometryOf(staged, i));
  }
  for (const part of polygonalParts(rest)) keepPiece(out, part, [...piece.classes, null], counters);
}

interface OutputPiece {
  commune_code: string;
  kx: bigint;
  ky: bigint;
  ka: bigint;
  classKey: string;
  area: number;
  wkb: Buffer;
  classes: Array<{ year: number; cls: StagedClass }>;
}

/** Cuts the partition's communes into pieces and writes the two Parquet parts. */
export async function overlayPartition(task: PartitionTask): Promise<PartitionResult> {
  const cpu = process.cpuUsage();
  const counters: Counters = {
    intersections: 0,
    differences: 0,
    differencesSkipped: 0,
    fastIdentical: 0,
    fastContained: 0,
    fastWithin: 0,
    slivers: 0,
    sliversM2: 0,
    unfilledM2: 0,
    vintageOverlaps: 0,
  };
  const communes = task.communes.map((c) => ({ ...c, geom: gdal.Geometry.fromWKB(c.geomWkb) }));
  const departements = new Set(communes.map((c) => c.departement));
  const applies = (v: WorkerVintage, departement: string): boolean => v.departement === null || v.departement === departement;
  const staged = new Map<string, StagedSet>();
  let polygonsRead = 0;
  for (const v of task.vintages) {
    if (![...departements].some((d) => applies(v, d))) continue;
    const set = readStaged(v, communes.filter((c) => applies(v, c.departement)).map((c) => c.geom.getEnvelope()));
    polygonsRead += set.rings.length;
    staged.set(v.key, set);
  }

  const output: OutputPiece[] = [];
  const communeVintages: CommuneVintageArea[] = [];
  let thresholdClasses = 0;
  let thresholdM2 = 0;
  for (const commune of communes) {
    const vintages = task.vintages.filter((v) => applies(v, commune.departement));
    const ce = commune.geom.getEnvelope();
    let pieces: Piece[] = polygonalParts(commune.geom).map((geom) => ({ geom, area: geom.getArea(), classes: [] }));
    for (const v of vintages) {
      const set = staged.get(v.key)!;
      const candidates = set.index ? set.index.search(ce.minX, ce.minY, ce.maxX, ce.maxY).sort((a, b) => a - b) : [];
      pieces = overlayVintage(pieces, set, candidates, counters);
    }
    if (task.thresholds) {
      const changed = applyThresholds(pieces, task.thresholds, thresholdClass);
      thresholdClasses += changed.classes;
      thresholdM2 += changed.area_m2;
    }
    vintages.forEach((v, k) => {
      let covered = 0;
      let uncovered = 0;
      for (const p of pieces) {
        if (p.classes[k]) covered += p.area;
        else uncovered += p.area;
      }
      communeVintages.push({ commune_code: commune.code, key: v.key, covered_m2: covered, uncovered_m2: uncovered });
    });
    for (const p of pieces) {
      const centroid = p.geom.centroid();
      const classes = vintages.flatMap((v, k) => (p.classes[k] ? [{ year: v.year, cls: p.classes[k]! }] : []));
      output.push({
        commune_code: commune.code,
        kx: BigInt(Math.round(centroid.x * 1000)),
        ky: BigInt(Math.round(centroid.y * 1000)),
        ka: BigInt(Math.round(p.area * 1e6)),
        classKey: classes.map(({ year, cls }) => `${year}:${cls.code_cs}:${cls.code_us}:${cls.category}:${cls.artificialised}`).join('|'),
        area: p.area,
        // The bytes GDAL's toWKB() gives (big-endian, gdal-async's default).
        wkb: p.rings ? polygonWkb(p.rings, 'big') : p.geom.toWKB(),
        classes,
      });
    }
  }
  const pieceFile = path.join(task.partDir, `part-${task.id}-piece.parquet`);
  const classFile = path.join(task.partDir, `part-${task.id}-class.parquet`);
  await writeParts(task.id, output, pieceFile, classFile);
  const used = process.cpuUsage(cpu);
  const cpuSeconds = (used.user + used.system) / 1e6;
  return { id: task.id, pieceFile, classFile, polygonsRead, pieces: output.length, ...counters, thresholdClasses, thresholdM2, cpuSeconds, communeVintages };
}


/** One in-memory database per worker process: opening one per partition cost about as much as its writes. */
let partsDatabase: DuckDBInstance | undefined;
/** Rows of `classTable` already in the database's `class_kind`. */
let classKindRows = 0;

/**
 * Writes a partition's pieces and their classes per vintage. The classes go in as ids, joined to their fields
 * on the way out: a few integers a row instead of eleven values, most of them strings.
 */
async function writeParts(part: number, pieces: OutputPiece[], pieceFile: string, classFile: string): Promise<void> {
  // Partitions come one at a time (serveTasks): no two calls open it.
  partsDatabase ??= await openDuckDB(':memory:', { threads: '1' });
  const conn = await partsDatabase.connect();
  try {
    // Kept from one partition to the next (a partition without staged polygons adds no class to it).
    await conn.run(`CREATE TABLE IF NOT EXISTS class_kind (class_id INTEGER, code_cs VARCHAR, code_us VARCHAR, category INTEGER,
      artificialised BOOLEAN, artif_rule VARCHAR, sealed BOOLEAN, enaf VARCHAR, destination VARCHAR)`);
    await appendRows(conn, 'class_kind', classTable.slice(classKindRows).map((c) =>
      [c.id, c.code_cs, c.code_us, c.category, c.artificialised, c.artif_rule, c.sealed, c.enaf, c.destination]));
    classKindRows = classTable.length;
    await conn.run(`CREATE OR REPLACE TABLE piece_part (part INTEGER, pkey BIGINT, commune_code VARCHAR, kx BIGINT, ky BIGINT, ka BIGINT,
      class_key VARCHAR, area_m2 DOUBLE, geom BLOB)`);
    await conn.run('CREATE OR REPLACE TABLE class_ref (pkey BIGINT, vintage INTEGER, class_id INTEGER)');
    await appendRows(conn, 'piece_part', pieces.map((p, n) => [part, BigInt(n), p.commune_code, p.kx, p.ky, p.ka, p.classKey, p.area, p.wkb]));
    await appendRows(conn, 'class_ref', pieces.flatMap((p, n) => p.classes.map(({ year, cls }) => [BigInt(n), year, cls.id])));
    await conn.run(`COPY piece_part TO ${sqlString(pieceFile)} (FORMAT parquet)`);
    await conn.run(`COPY (SELECT ${part}::INTEGER AS part, r.pkey, r.vintage, k.code_cs, k.code_us, k.category, k.artificialised, k.artif_rule,
      k.sealed, k.enaf, k.destination FROM class_ref r JOIN class_kind k USING (class_id)) TO ${sqlString(classFile)} (FORMAT parquet)`);
    await conn.run('DROP TABLE piece_part');
    await conn.run('DROP TABLE class_ref');
  } finally {
    conn.closeSync();
  }
}

serveTasks<never, PartitionTask, PartitionResult>('worker', {
  task: overlayPartition,
  close: () => {
    for (const file of stagedFiles.values()) file.reader.close();
    partsDatabase?.closeSync();
  },
});
