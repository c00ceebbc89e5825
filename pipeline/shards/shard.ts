import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { loadNomenclature, loadProfile } from '../../nomenclature/loader.js';
import { StageError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { processIsAlive } from '../core/output-checks.js';
import { runInWorkers } from '../core/worker-pool.js';
import type { StageManifest } from '../core/types.js';
import { ingestVintages, type IngestOptions, type VintageSource } from '../ingest/index.js';
import { overlayVintages, type OverlayStats } from '../overlay/index.js';
import type { ThresholdRules } from '../overlay/thresholds.js';

/** Ingest options that change a shard's result (and so its key). */
export type ShardIngestOptions = Omit<IngestOptions, 'stageDir' | 'force' | 'logger' | 'jobs' | 'quiet'>;

/** A commune as a shard job carries it: geometry as base64 WKB, so that the task is plain JSON for the queue. */
export interface ShardCommune {
  code: string;
  departement: string;
  geomWkb: string;
  area_m2: number;
}

/** One département's ingest + overlay: everything a process needs, paths included (workers elsewhere see the same paths). */
export interface ShardTask {
  /** `dep-67`: names the shard in logs, errors and queue job ids. */
  id: string;
  departement: string;
  /** Content hash (key.ts): the shard's folder in the cache. */
  key: string;
  /** The vintages applying to the département (its own and those without a département), in the run's order. */
  sources: VintageSource[];
  ingest: ShardIngestOptions;
  communes: ShardCommune[];
  thresholds: ThresholdRules | null;
}

/** How this process computes a shard: none of it changes the result. */
export interface ShardRunOptions {
  cacheDir: string;
  jobs: number;
  quiet?: boolean;
  logger?: Logger;
}

export interface ShardResult {
  id: string;
  key: string;
  /** The shard's folder: `shard.json`, `piece.parquet`, `piece_class.parquet`. */
  dir: string;
  reused: boolean;
  seconds: number;
}

/** `shard.json`: written last, so a folder holding it is a whole shard. */
export interface ShardContent {
  id: string;
  key: string;
  departement: string;
  manifest: StageManifest;
  stats: OverlayStats;
}

export const SHARD_FILE = 'shard.json';

/** The folder of a shard in a cache. */
export const shardDir = (cacheDir: string, key: string): string => path.join(path.resolve(cacheDir), key);

export async function readShard(dir: string): Promise<ShardContent> {
  return JSON.parse(await readFile(path.join(dir, SHARD_FILE), 'utf8')) as ShardContent;
}

/**
 * Computes one shard into the cache, or finds it there. The shard is built in a temporary sibling named after
 * this machine and process, then renamed into place: a killed process never leaves a partial shard, and when
 * two processes compute the same shard (a stalled job given to another worker), the first rename wins and the
 * other copy, identical, is dropped.
 */
export async function computeShard(task: ShardTask, options: ShardRunOptions): Promise<ShardResult> {
  const started = performance.now();
  const dir = shardDir(options.cacheDir, task.key);
  const result = (reused: boolean): ShardResult => ({ id: task.id, key: task.key, dir, reused, seconds: (performance.now() - started) / 1000 });
  if (existsSync(path.join(dir, SHARD_FILE))) return result(true);
  const logger = options.logger ?? silentLogger;
  await mkdir(path.dirname(dir), { recursive: true });
  await removeDeadTemps(path.dirname(dir));
  const temp = path.join(path.dirname(dir), `.${task.key}.tmp-${hostname()}-${process.pid}`);
  await rm(temp, { recursive: true, force: true });
  await mkdir(temp);
  try {
    const stageDir = path.join(temp, 'staging');
    const workDir = path.join(temp, 'work');
    const manifest =
      task.sources.length > 0
        ? await ingestVintages(task.sources, { ...task.ingest, stageDir, force: true, jobs: options.jobs, quiet: options.quiet, logger })
        : await emptyStage(stageDir, task.ingest);
    const communes = task.communes.map((c) => ({ ...c, geomWkb: Buffer.from(c.geomWkb, 'base64') }));
    const overlaid = await overlayVintages({ stageDir, territories: { communes }, jobs: options.jobs, workDir, thresholds: task.thresholds, logger });
    await rename(overlaid.pieceParquet, path.join(temp, 'piece.parquet'));
    await rename(overlaid.pieceClassParquet, path.join(temp, 'piece_class.parquet'));
    await rm(stageDir, { recursive: true, force: true });
    await rm(workDir, { recursive: true, force: true });
    const content: ShardContent = { id: task.id, key: task.key, departement: task.departement, manifest, stats: overlaid.stats };
    await writeFile(path.join(temp, SHARD_FILE), `${JSON.stringify(content)}\n`);
    try {
      await rename(temp, dir);
    } catch (error) {
      if (!existsSync(path.join(dir, SHARD_FILE))) throw error;
      await rm(temp, { recursive: true, force: true });
    }
    return result(false);
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw new StageError('shard', task.id, error);
  }
}

/** What a shard child process receives (worker.ts). */
export interface ShardChildTask {
  task: ShardTask;
  options: Omit<ShardRunOptions, 'logger'>;
}

/**
 * `computeShard` in a child process of its own process group: the caller's event loop stays free to renew its
 * queue lock while GDAL works, and a Ctrl-C meant for the caller does not kill the shard it is finishing.
 */
export async function computeShardInChild(task: ShardTask, options: Omit<ShardRunOptions, 'logger'>): Promise<ShardResult> {
  const [result] = await runInWorkers<never, ShardChildTask, ShardResult>({
    module: import.meta.url,
    basename: 'worker',
    jobs: 1,
    tasks: [{ task, options }],
    stage: 'shard',
    shard: () => task.id,
    detached: true,
  });
  return result!;
}

/**
 * Several shards at once, `jobs` child processes computing one shard each (with one job), the largest first so
 * that the last to finish is a small one. `onResult` hears of each shard as it ends; results are in task order.
 */
export async function computeShardsInChildren(
  tasks: ShardTask[],
  options: Omit<ShardRunOptions, 'logger' | 'jobs'> & { jobs: number; onResult: (result: ShardResult) => void },
): Promise<ShardResult[]> {
  const size = (task: ShardTask): number => task.communes.reduce((sum, c) => sum + c.area_m2, 0);
  const order = tasks.map((_, i) => i).sort((a, b) => size(tasks[b]!) - size(tasks[a]!) || a - b);
  const { onResult, jobs, ...rest } = options;
  const results = await runInWorkers<never, ShardChildTask, ShardResult>({
    module: import.meta.url,
    basename: 'worker',
    jobs,
    tasks: order.map((i) => ({ task: tasks[i]!, options: { ...rest, jobs: 1 } })),
    stage: 'shard',
    shard: ({ task }) => task.id,
    onResult,
  });
  const inTaskOrder: ShardResult[] = new Array(tasks.length);
  order.forEach((i, k) => (inTaskOrder[i] = results[k]!));
  return inTaskOrder;
}

/** A département no vintage applies to: its communes still become pieces, without classes. */
async function emptyStage(stageDir: string, ingest: ShardIngestOptions): Promise<StageManifest> {
  const manifest: StageManifest = { crs: 'EPSG:2154', nomenclatureVersion: loadNomenclature().version, profile: loadProfile(ingest.profile ?? 'ocsge').name, vintages: [] };
  await mkdir(stageDir, { recursive: true });
  await writeFile(path.join(stageDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Temporary shards of this machine's processes that are gone (killed mid-shard). */
async function removeDeadTemps(cacheDir: string): Promise<void> {
  const pattern = new RegExp(`^\\.[0-9a-f]+\\.tmp-${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)$`);
  for (const entry of await readdir(cacheDir)) {
    const match = pattern.exec(entry);
    if (match && !processIsAlive(Number(match[1]))) await rm(path.join(cacheDir, entry), { recursive: true, force: true });
  }
}
