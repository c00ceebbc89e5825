/**
 * Overlay stage: cuts every commune into atomic pieces, each carrying its classes at every vintage
 * that covers it, and writes `piece.parquet` (piece_id, commune_code, area_m2, geom WKB) and
 * `piece_class.parquet` (docs/OUTPUT_SCHEMA.md). Communes are grouped into spatial partitions (Morton
 * order of their centroids) processed by `jobs` worker processes (pipeline/overlay/worker.ts); the parts
 * are merged with DuckDB, sorted, and numbered, so the output is byte-identical whatever `jobs`.
 * See docs/OVERLAY.md.
 *
 * @example
 *   const { pieceParquet, pieceClassParquet, stats } = await overlayVintages({ stageDir, territories, jobs: 2, workDir });
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import gdal from 'gdal-async';
import { inStage, StageError, UserError } from '../core/errors.js';
import { mortonKey } from '../core/polygons.js';
import { silentLogger, type Logger } from '../core/log.js';
import { AtomicOutput } from '../core/atomic-output.js';
import type { Commune } from '../territories/index.js';
import type { StageManifest } from '../core/types.js';
import { runInWorkers } from '../core/worker-pool.js';
import type { CommuneVintageArea, PartitionCommune, PartitionResult, PartitionTask, WorkerVintage } from './worker.js';
import type { ThresholdRules } from './thresholds.js';
import { sqlList, sqlString } from '../core/sql.js';
import { openDuckDB } from '../core/duckdb.js';

/** What the overlay needs of a commune (a shard's communes travel without their names). */
export type OverlayCommune = Pick<Commune, 'code' | 'departement' | 'geomWkb' | 'area_m2'>;

export interface OverlayInput {
  stageDir: string;
  territories: { communes: OverlayCommune[] };
  jobs: number;
  /** Receives `piece.parquet`, `piece_class.parquet` (and temporary parts). */
  workDir: string;
  logger?: Logger;
  /** A partition closes at this many communes… */
  communesPerPartition?: number;
  /** …or at this many staged polygons (estimated from the communes' share of the staged area). */
  polygonsPerPartition?: number;
  /** Threshold rules applied to matrix-classified vintages (nomenclature/zan-rules.yml); null or omitted: none. */
  thresholds?: ThresholdRules | null;
}

export interface VintageStats {
  key: string;
  year: number;
  departement: string | null;
  /** Area of the applicable communes classified by this vintage. */
  covered_m2: number;
  /** Area of the applicable communes this vintage does not cover. */
  uncovered_m2: number;
  /** Staged area lying outside every applicable commune. */
  outside_communes_m2: number;
}

export interface OverlayStats {
  communes: number;
  partitions: number;
  /** Features of all staged vintages. */
  stagedPolygons: number;
  /** Staged polygons read by the workers (those meeting communes of several partitions are read once per partition). */
  polygonsRead: number;
  pieces: number;
  intersections: number;
  differences: number;
  differencesSkipped: number;
  fastPath: { identicalGeometry: number; polygonInsidePiece: number; pieceInsidePolygon: number };
  /** Dropped pieces under 1e-6 m², and area within the fill tolerance for which no `difference` was computed. */
  slivers: { count: number; area_m2: number; unfilled_m2: number };
  vintageOverlaps: number;
  /** Threshold rules: applied or not, and the piece classes (piece × vintage) they moved, with their area. */
  thresholds: { applied: boolean; classes: number; area_m2: number };
  vintages: VintageStats[];
  /** Communes that no vintage covers anywhere (code order). */
  communesWithoutData: string[];
  /** Per commune and vintage, the commune area a vintage applying to it leaves unclassified (> 0 only). */
  uncovered: Array<{ commune_code: string; vintage: string; area_m2: number }>;
  seconds: number;
  /** CPU seconds spent by the workers on partitions (wall-clock `seconds` also counts start-up and merge). */
  workerCpuSeconds: number;
  /** Staged polygons per second of the whole stage. */
  polygonsPerSecond: number;
}

export interface OverlayOutput {
  pieceParquet: string;
  pieceClassParquet: string;
  stats: OverlayStats;
}

const DEFAULT_COMMUNES_PER_PARTITION = 24;
const DEFAULT_POLYGONS_PER_PARTITION = 60_000;

function readManifest(stageDir: string): StageManifest {
  const file = path.join(stageDir, 'manifest.json');
  if (!existsSync(file)) throw new UserError('stage manifest not found', { file, remedy: 'run the ingest stage first' });
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as StageManifest;
  if (manifest.crs !== 'EPSG:2154') throw new UserError(`staged CRS is ${manifest.crs}, expected EPSG:2154`, { file });
  for (const v of manifest.vintages) {
    const vintagePath = path.resolve(stageDir, v.path);
    if (!existsSync(vintagePath)) throw new UserError(`staged vintage ${v.key} not found`, { file: vintagePath, remedy: 'run the ingest stage again' });
  }
  return manifest;
}

interface PlannedCommune extends PartitionCommune {
  key: number;
  weight: number;
}

/** Groups communes into spatially compact partitions: Morton order of centroids, then chunks. */
function planPartitions(input: OverlayInput, manifest: StageManifest): PartitionCommune[][] {
  const communes = input.territories.communes;
  const totalArea = communes.reduce((s, c) => s + c.area_m2, 0);
  const centroids = communes.map((c) => gdal.Geometry.fromWKB(c.geomWkb).centroid());
  const bounds = { minX: Infinity, minY: Infinity, maxX: -Infinity, maxY: -Infinity };
  for (const p of centroids) {
    bounds.minX = Math.min(bounds.minX, p.x);
    bounds.minY = Math.min(bounds.minY, p.y);
    bounds.maxX = Math.max(bounds.maxX, p.x);
    bounds.maxY = Math.max(bounds.maxY, p.y);
  }
  const stagedFeatures = manifest.vintages.reduce((s, v) => s + v.features, 0);
  const planned: PlannedCommune[] = communes.map((c, i) => ({
    code: c.code,
    departement: c.departement,
    geomWkb: c.geomWkb,
    key: mortonKey(centroids[i]!.x, centroids[i]!.y, bounds),
    weight: totalArea > 0 ? (stagedFeatures * c.area_m2) / totalArea : 0,
  }));
  planned.sort((a, b) => a.key - b.key || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  // Small runs are still split so that every job gets work (the output does not depend on partitions).
  const maxCommunes = Math.min(input.communesPerPartition ?? DEFAULT_COMMUNES_PER_PARTITION, Math.ceil(communes.length / (2 * input.jobs)));
  const maxPolygons = input.polygonsPerPartition ?? DEFAULT_POLYGONS_PER_PARTITION;
  const partitions: PartitionCommune[][] = [];
  let current: PartitionCommune[] = [];
  let weight = 0;
  for (const c of planned) {
    if (current.length > 0 && (current.length >= maxCommunes || weight + c.weight > maxPolygons)) {
      partitions.push(current);
      current = [];
      weight = 0;
    }
    current.push({ code: c.code, departement: c.departement, geomWkb: c.geomWkb });
    weight += c.weight;
  }
  if (current.length > 0) partitions.push(current);
  return partitions;
}

async function runPartitions(tasks: PartitionTask[], jobs: number, logger: Logger): Promise<PartitionResult[]> {
  const started = performance.now();
  let done = 0;
  let polygons = 0;
  let lastPrint = started;
  return runInWorkers<never, PartitionTask, PartitionResult>({
    module: import.meta.url,
    basename: 'worker',
    jobs,
    tasks,
    stage: 'overlay',
    shard: (task) => `partition-${task.id}`,
    onResult: (result) => {
      done++;
      polygons += result.polygonsRead;
      const now = performance.now();
      if (now - lastPrint > 2000 || done === tasks.length) {
        lastPrint = now;
        const rate = Math.round((polygons / Math.max(now - started, 1)) * 1000).toLocaleString('en-US');
        logger.info(`overlay: ${done}/${tasks.length} partitions, ${rate} polygons/s`);
      }
    },
  });
}


/** Merges the parts: one global order (commune, centroid, area, classes, geometry), then ids 1…n. */
async function mergeParts(results: PartitionResult[], piecePath: string, classPath: string): Promise<void> {
  const instance = await openDuckDB(':memory:', { threads: '1' });
  const conn = await instance.connect();
  try {
    await conn.run(`CREATE TABLE ids AS
      SELECT row_number() OVER (ORDER BY commune_code, kx, ky, ka, class_key, geom) AS piece_id, part, pkey, commune_code, area_m2, geom
      FROM read_parquet(${sqlList(results.map((r) => r.pieceFile))})`);
    await AtomicOutput.write(piecePath, { force: true }, (temp) =>
      conn.run(`COPY (SELECT piece_id, commune_code, area_m2, geom FROM ids ORDER BY piece_id) TO ${sqlString(temp)} (FORMAT parquet)`),
    );
    await AtomicOutput.write(classPath, { force: true }, (temp) =>
      conn.run(`COPY (
        SELECT ids.piece_id, c.vintage, c.code_cs, c.code_us, c.category, c.artificialised, c.artif_rule, c.sealed, c.enaf, c.destination
        FROM read_parquet(${sqlList(results.map((r) => r.classFile))}) c JOIN ids USING (part, pkey)
        ORDER BY ids.piece_id, c.vintage) TO ${sqlString(temp)} (FORMAT parquet)`),
    );
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

const byCode = (a: CommuneVintageArea, b: CommuneVintageArea): number =>
  a.commune_code < b.commune_code ? -1 : a.commune_code > b.commune_code ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;

/** Runs the overlay over all communes; see the module header. */
export async function overlayVintages(input: OverlayInput): Promise<OverlayOutput> {
  const started = performance.now();
  const logger = input.logger ?? silentLogger;
  const manifest = await inStage('overlay', undefined, async () => readManifest(input.stageDir));
  if (input.territories.communes.length === 0) throw new UserError('no commune to overlay', { remedy: 'check the commune source and filter' });
  const years = new Map<string, string>();
  for (const v of manifest.vintages) {
    const slot = `${v.departement ?? '*'}:${v.year}`;
    if (years.has(slot)) throw new UserError(`two staged vintages ${years.get(slot)} and ${v.key} share year ${v.year}`, { file: input.stageDir });
    years.set(slot, v.key);
  }
  const vintages: WorkerVintage[] = manifest.vintages
    .map((v) => ({ key: v.key, year: v.year, departement: v.departement, path: path.resolve(input.stageDir, v.path) }))
    .sort((a, b) => a.year - b.year || (a.key < b.key ? -1 : 1));

  const partDir = path.join(input.workDir, 'overlay-parts');
  await rm(partDir, { recursive: true, force: true });
  await mkdir(partDir, { recursive: true });
  const partitions = planPartitions(input, manifest);
  logger.info(
    `overlay: ${input.territories.communes.length} communes in ${partitions.length} partitions, ${vintages.length} vintages, ${input.jobs} jobs`,
  );
  const thresholds = input.thresholds ?? null;
  const tasks: PartitionTask[] = partitions.map((communes, id) => ({ id, communes, vintages, partDir, thresholds }));
  let results: PartitionResult[];
  try {
    results = await runPartitions(tasks, input.jobs, logger);
  } catch (error) {
    await rm(partDir, { recursive: true, force: true });
    throw error instanceof StageError ? error : new StageError('overlay', undefined, error);
  }
  const pieceParquet = path.join(input.workDir, 'piece.parquet');
  const pieceClassParquet = path.join(input.workDir, 'piece_class.parquet');
  await inStage('overlay', 'merge', () => mergeParts(results, pieceParquet, pieceClassParquet));
  await rm(partDir, { recursive: true, force: true });

  const areas = results.flatMap((r) => r.communeVintages).sort(byCode);
  const withData = new Set(areas.filter((a) => a.covered_m2 > 0).map((a) => a.commune_code));
  const vintageStats: VintageStats[] = vintages.map((v) => {
    const staged = manifest.vintages.find((m) => m.key === v.key)!;
    let covered = 0;
    let uncovered = 0;
    for (const a of areas) {
      if (a.key !== v.key) continue;
      covered += a.covered_m2;
      uncovered += a.uncovered_m2;
    }
    return { key: v.key, year: v.year, departement: v.departement, covered_m2: covered, uncovered_m2: uncovered, outside_communes_m2: Math.max(0, staged.areaM2 - covered) };
  });
  const sum = (pick: (r: PartitionResult) => number): number => results.reduce((s, r) => s + pick(r), 0);
  const seconds = (performance.now() - started) / 1000;
  const polygonsRead = sum((r) => r.polygonsRead);
  const stagedPolygons = manifest.vintages.reduce((s, v) => s + v.features, 0);
  const stats: OverlayStats = {
    communes: input.territories.communes.length,
    partitions: partitions.length,
    stagedPolygons,
    polygonsRead,
    pieces: sum((r) => r.pieces),
    intersections: sum((r) => r.intersections),
    differences: sum((r) => r.differences),
    differencesSkipped: sum((r) => r.differencesSkipped),
    fastPath: {
      identicalGeometry: sum((r) => r.fastIdentical),
      polygonInsidePiece: sum((r) => r.fastContained),
      pieceInsidePolygon: sum((r) => r.fastWithin),
    },
    slivers: { count: sum((r) => r.slivers), area_m2: sum((r) => r.sliversM2), unfilled_m2: sum((r) => r.unfilledM2) },
    vintageOverlaps: sum((r) => r.vintageOverlaps),
    thresholds: { applied: thresholds !== null, classes: sum((r) => r.thresholdClasses), area_m2: sum((r) => r.thresholdM2) },
    vintages: vintageStats,
    communesWithoutData: input.territories.communes
      .map((c) => c.code)
      .filter((code) => !withData.has(code))
      .sort(),
    uncovered: areas.filter((a) => a.uncovered_m2 > 0).map((a) => ({ commune_code: a.commune_code, vintage: a.key, area_m2: a.uncovered_m2 })),
    seconds,
    workerCpuSeconds: sum((r) => r.cpuSeconds),
    polygonsPerSecond: stagedPolygons / Math.max(seconds, 1e-9),
  };
  logger.info(
    `overlay: ${stats.pieces.toLocaleString('en-US')} pieces from ${stagedPolygons.toLocaleString('en-US')} staged polygons in ${seconds.toFixed(1)} s ` +
      `(${Math.round(stats.polygonsPerSecond).toLocaleString('en-US')} polygons/s, worker CPU ${stats.workerCpuSeconds.toFixed(1)} s, ` +
      `${stats.intersections.toLocaleString('en-US')} intersections)`,
  );
  return { pieceParquet, pieceClassParquet, stats };
}
