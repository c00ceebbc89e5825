/**
 * Shards stage: ingest + overlay per département. A shard's result (its communes' pieces and piece
 * classes, the staged-vintage manifest and overlay stats) is a folder of the shard cache named by a content
 * hash of everything it depends on (key.ts), reused whenever the key matches. Shards are computed here (`jobs`
 * at once in child processes when several are missing, else one after the other with `jobs` workers each), or
 * by `ocs-zan worker` processes through a Redis queue (pipeline/queue/); either way they
 * are merged here into one `piece.parquet` and `piece_class.parquet` numbered as a single overlay would.
 * See docs/SCALE-OUT.md.
 *
 * @example
 *   const { pieceParquet, pieceClassParquet, manifest, stats } = await buildShards({
 *     sources, ingest: { profile: 'ocsge' }, territories, thresholds: null, cacheDir: 'cache/shards', workDir, jobs: 2,
 *   });
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { inStage, UserError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { AtomicOutput } from '../core/atomic-output.js';
import { sqlList, sqlString } from '../core/sql.js';
import type { StageManifest, StagedVintage } from '../core/types.js';
import { checkVintageSources, stagingKey, type VintageSource } from '../ingest/index.js';
import type { OverlayCommune, OverlayStats, VintageStats } from '../overlay/index.js';
import type { ThresholdRules } from '../overlay/thresholds.js';
import { computeShardsOnQueue } from '../queue/index.js';
import { memoisedSha256, shardKey } from './key.js';
import { computeShard, computeShardsInChildren, readShard, SHARD_FILE, shardDir, type ShardContent, type ShardIngestOptions, type ShardResult, type ShardTask } from './shard.js';
import type { DuckDBConnection } from '@duckdb/node-api';
import { openDuckDB } from '../core/duckdb.js';

export type { ShardIngestOptions, ShardTask } from './shard.js';

export interface BuildShardsInput {
  sources: VintageSource[];
  ingest: ShardIngestOptions;
  territories: { communes: OverlayCommune[] };
  thresholds: ThresholdRules | null;
  /** Shard cache: `<cacheDir>/<key>/`. */
  cacheDir: string;
  /** Receives the merged `piece.parquet` and `piece_class.parquet`. */
  workDir: string;
  jobs: number;
  quiet?: boolean;
  /** `redis://HOST:PORT[/DB]`: missing shards are computed by `ocs-zan worker` processes instead of this one. */
  queue?: string;
  logger?: Logger;
}

export interface ShardsOutput {
  pieceParquet: string;
  pieceClassParquet: string;
  manifest: StageManifest;
  stats: OverlayStats;
  shards: { total: number; reused: number; computed: number };
}

/** Plans the shards, reuses those in the cache, computes the others (here or on the queue) and merges them. */
export async function buildShards(input: BuildShardsInput): Promise<ShardsOutput> {
  const started = performance.now();
  const logger = input.logger ?? silentLogger;
  // Every vintage is checked before the first shard, so a bad one stops the run before any heavy work.
  await checkVintageSources(input.sources, input.ingest);
  if (input.territories.communes.length === 0) throw new UserError('no commune to overlay', { remedy: 'check the commune source and filter' });
  const tasks = await inStage('shards', 'plan', () => planShards(input, logger));
  let results: ShardResult[];
  if (input.queue !== undefined) {
    results = await computeShardsOnQueue(tasks, { url: input.queue, cacheDir: input.cacheDir, logger });
  } else {
    results = await computeShardsHere(tasks, input, logger);
  }
  const reused = results.filter((r) => r.reused).length;
  logger.info(`shards: ${reused} shards reused, ${results.length - reused} computed`);
  const contents = await Promise.all(results.map((r) => readShard(r.dir)));
  const pieceParquet = path.join(input.workDir, 'piece.parquet');
  const pieceClassParquet = path.join(input.workDir, 'piece_class.parquet');
  await inStage('shards', 'merge', () => mergePieces(results, contents, pieceParquet, pieceClassParquet));
  const manifest = mergeManifests(input.sources, contents);
  const stats = mergeStats(manifest, contents, (performance.now() - started) / 1000);
  return { pieceParquet, pieceClassParquet, manifest, stats, shards: { total: results.length, reused, computed: results.length - reused } };
}

/**
 * Shards computed by this process. With several to compute, `jobs` of them run at once, one job each: a shard's
 * three vintages on two jobs leave one idle while the third is staged, and its overlay's last partition too.
 */
async function computeShardsHere(tasks: ShardTask[], input: BuildShardsInput, logger: Logger): Promise<ShardResult[]> {
  let done = 0;
  const report = (result: ShardResult): void =>
    logger.info(`shards: ${result.id} ${result.reused ? 'reused' : `computed in ${result.seconds.toFixed(1)} s`} (${++done}/${tasks.length})`);
  const missing = tasks.filter((task) => !existsSync(path.join(shardDir(input.cacheDir, task.key), SHARD_FILE)));
  if (input.jobs > 1 && missing.length > 1) {
    const computed = await computeShardsInChildren(missing, { cacheDir: input.cacheDir, jobs: Math.min(input.jobs, missing.length), quiet: input.quiet, onResult: report });
    const byId = new Map(computed.map((result) => [result.id, result]));
    const results: ShardResult[] = [];
    for (const task of tasks) {
      const result = byId.get(task.id) ?? (await computeShard(task, { cacheDir: input.cacheDir, jobs: 1, logger }));
      if (!byId.has(task.id)) report(result);
      results.push(result);
    }
    return results;
  }
  const results: ShardResult[] = [];
  for (const task of tasks) {
    const result = await computeShard(task, { cacheDir: input.cacheDir, jobs: input.jobs, quiet: input.quiet, logger });
    report(result);
    results.push(result);
  }
  return results;
}

/**
 * One shard per département of the communes, in the order of their commune codes (a département's codes
 * share its prefix), so that numbering the shards' pieces one after the other gives the global order.
 */
async function planShards(input: BuildShardsInput, logger: Logger): Promise<ShardTask[]> {
  const byDepartement = new Map<string, OverlayCommune[]>();
  for (const commune of [...input.territories.communes].sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))) {
    const list = byDepartement.get(commune.departement) ?? [];
    list.push(commune);
    byDepartement.set(commune.departement, list);
  }
  for (const source of input.sources) {
    if (source.departement !== null && !byDepartement.has(source.departement)) {
      logger.warn(`vintage ${source.departement}:${source.year} (${source.path}) applies to no commune of the territories: not read`);
    }
  }
  const sha256Of = memoisedSha256();
  const tasks: ShardTask[] = [];
  for (const [departement, members] of byDepartement) {
    const sources = input.sources.filter((s) => s.departement === null || s.departement === departement);
    const communes = members.map((c) => ({ code: c.code, departement: c.departement, geomWkb: c.geomWkb.toString('base64'), area_m2: c.area_m2 }));
    const key = await shardKey({ departement, sources, ingest: input.ingest, communes, thresholds: input.thresholds }, sha256Of);
    tasks.push({ id: `dep-${departement}`, departement, key, sources, ingest: input.ingest, communes, thresholds: input.thresholds });
  }
  return tasks;
}

/**
 * Shard pieces numbered one shard after the other (each shard numbers its own from 1 in the global sort order).
 * Each shard's files are already sorted, so the files are read in shard order and written as read: a sort of the
 * region's pieces with their geometry ran out of DuckDB's memory bound. The written order is checked.
 */
async function mergePieces(results: ShardResult[], contents: ShardContent[], piecePath: string, classPath: string): Promise<void> {
  const offsets: number[] = [];
  let total = 0;
  for (const content of contents) {
    offsets.push(total);
    total += content.stats.pieces;
  }
  const inShardOrder = (file: string, columns: string): string => {
    const files = results.map((r) => path.join(r.dir, file));
    const offset = `CASE filename ${files.map((f, i) => `WHEN ${sqlString(f)} THEN ${offsets[i]}`).join(' ')} END`;
    return `SELECT piece_id + ${offset} AS piece_id, ${columns} FROM read_parquet(${sqlList(files)}, filename = true)`;
  };
  // Two tables at once, each statement on its own connection and one thread: the order is that of the files.
  const instance = await openDuckDB(':memory:', { threads: '1', preserve_insertion_order: 'true' });
  const connections: DuckDBConnection[] = [];
  const merge = async (target: string, file: string, columns: string, rowCheck: string, rows: number | null): Promise<void> => {
    const conn = await instance.connect();
    connections.push(conn);
    await AtomicOutput.write(target, { force: true }, async (temp) => {
      await conn.run(`COPY (${inShardOrder(file, columns)}) TO ${sqlString(temp)} (FORMAT parquet)`);
      await checkNumbering(conn, temp, rowCheck, rows);
    });
  };
  try {
    // Both settle before the connections close, even when one fails.
    const settled = await Promise.allSettled([
      merge(piecePath, 'piece.parquet', 'commune_code, area_m2, geom', 'piece_id = file_row_number + 1', total),
      merge(
        classPath,
        'piece_class.parquet',
        'vintage, code_cs, code_us, category, artificialised, artif_rule, sealed, enaf, destination',
        'piece_id >= lag(piece_id, 1, 1) OVER (ORDER BY file_row_number)',
        null,
      ),
    ]);
    for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
  } finally {
    for (const conn of connections) conn.closeSync();
    instance.closeSync();
  }
}

/** Fails (an internal error) unless every row of the merged file meets `rowCheck`, and there are `rows` of them when given. */
async function checkNumbering(conn: DuckDBConnection, file: string, rowCheck: string, rows: number | null): Promise<void> {
  const reader = await conn.runAndReadAll(
    `SELECT count(*)::DOUBLE AS n, coalesce(bool_and(ok), true) AS ok FROM (SELECT ${rowCheck} AS ok FROM read_parquet(${sqlString(file)}, file_row_number = true))`,
  );
  const { n, ok } = reader.getRowObjectsJS()[0]!;
  if (!ok || (rows !== null && Number(n) !== rows)) throw new Error(`merged ${path.basename(file)} is not in piece order (${n} rows, ${rows ?? '?'} expected)`);
}

/** The staged vintages of all shards, each once (vintages without a département are staged identically by every shard), in the run's order. */
function mergeManifests(sources: VintageSource[], contents: ShardContent[]): StageManifest {
  const staged = new Map<string, StagedVintage>();
  for (const content of contents) for (const vintage of content.manifest.vintages) if (!staged.has(vintage.key)) staged.set(vintage.key, vintage);
  const vintages = sources.map(stagingKey).filter((key, i, keys) => staged.has(key) && keys.indexOf(key) === i).map((key) => staged.get(key)!);
  const { crs, nomenclatureVersion, profile } = contents[0]!.manifest;
  return { crs, nomenclatureVersion, profile, vintages };
}

/** Overlay stats of the whole run from the shards', summed in shard order (lists of communes stay in code order). */
function mergeStats(manifest: StageManifest, contents: ShardContent[], seconds: number): OverlayStats {
  const all = contents.map((c) => c.stats);
  const sum = (pick: (s: OverlayStats) => number): number => all.reduce((total, s) => total + pick(s), 0);
  const vintages: VintageStats[] = manifest.vintages.map((staged) => {
    const perShard = all.map((s) => s.vintages.find((v) => v.key === staged.key)).filter((v): v is VintageStats => v !== undefined);
    const covered = perShard.reduce((total, v) => total + v.covered_m2, 0);
    const uncovered = perShard.reduce((total, v) => total + v.uncovered_m2, 0);
    return { key: staged.key, year: staged.year, departement: staged.departement, covered_m2: covered, uncovered_m2: uncovered, outside_communes_m2: Math.max(0, staged.areaM2 - covered) };
  });
  const stagedPolygons = manifest.vintages.reduce((total, v) => total + v.features, 0);
  return {
    communes: sum((s) => s.communes),
    partitions: sum((s) => s.partitions),
    stagedPolygons,
    polygonsRead: sum((s) => s.polygonsRead),
    pieces: sum((s) => s.pieces),
    intersections: sum((s) => s.intersections),
    differences: sum((s) => s.differences),
    differencesSkipped: sum((s) => s.differencesSkipped),
    fastPath: {
      identicalGeometry: sum((s) => s.fastPath.identicalGeometry),
      polygonInsidePiece: sum((s) => s.fastPath.polygonInsidePiece),
      pieceInsidePolygon: sum((s) => s.fastPath.pieceInsidePolygon),
    },
    slivers: { count: sum((s) => s.slivers.count), area_m2: sum((s) => s.slivers.area_m2), unfilled_m2: sum((s) => s.slivers.unfilled_m2) },
    vintageOverlaps: sum((s) => s.vintageOverlaps),
    thresholds: { applied: all[0]!.thresholds.applied, classes: sum((s) => s.thresholds.classes), area_m2: sum((s) => s.thresholds.area_m2) },
    vintages,
    communesWithoutData: all.flatMap((s) => s.communesWithoutData),
    uncovered: all.flatMap((s) => s.uncovered),
    seconds,
    workerCpuSeconds: sum((s) => s.workerCpuSeconds),
    polygonsPerSecond: stagedPolygons / Math.max(seconds, 1e-9),
  };
}
