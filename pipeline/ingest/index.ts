/**
 * Ingest stage: reads each OCS vintage from any OGR source (one layer per vintage, or one multi-date
 * layer with a code column per vintage), classifies every polygon with the nomenclature, repairs and
 * explodes geometries, reprojects to EPSG:2154 and stages `<stageDir>/vintage-<key>.fgb` plus
 * `<stageDir>/manifest.json` (see `StageManifest` in pipeline/core/types.ts).
 *
 * All inputs (files, layers, fields, CRS, disk space) are checked before anything is written; the
 * stage directory appears atomically. Each vintage is copied (copy.ts: from GDAL's own translation of the
 * source where it can, else feature by feature), then its overlaps within the vintage resolved (overlaps.ts);
 * the copy streams, keeping only unknown-code statistics (and IDs, to count duplicates) in memory.
 *
 * @example
 *   const manifest = await ingestVintages([parseVintageSpec('2019=ocs.gpkg#ocsge_2019')], { stageDir: 'out/stage' });
 *   manifest.vintages[0].countsByCategory['1']; // m² of category 1 (built)
 */
import { rm, statfs, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import gdal from 'gdal-async';
import { loadNomenclature, loadProfile } from '../../nomenclature/loader.js';
import type { Profile } from '../../nomenclature/loader.js';
import { inStage, UserError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { AtomicOutput } from '../core/atomic-output.js';
import { nearestFolder } from '../core/output-checks.js';
import { runInWorkers } from '../core/worker-pool.js';
import type { StagedVintage, StageManifest } from '../core/types.js';
import { datasetFiles, filesSha256, openDataset, splitLayer } from '../core/datasets.js';
import { multiDateYears, openSource, type OpenedSource, type VintageSource } from './source.js';
import { copyVintage, unsortedFileName, type CopiedVintage } from './copy.js';
import { openDeliveries, type DeliveryScan } from './deliveries.js';
import { resolveOverlaps } from './overlaps.js';

export type { VintageSource } from './source.js';

export interface IngestOptions {
  stageDir: string;
  /** Profile name or YAML path; default 'ocsge'. */
  profile?: string;
  /** Role → field name, replacing the profile's candidates (`--cs-field`, `--field role=name`). */
  fields?: Record<string, string>;
  /** Sources are one multi-date layer: code fields are `<candidate>_<year>`. */
  multiDate?: boolean;
  /** CRS for layers that declare none, e.g. 'EPSG:2154'. */
  assumeCrs?: string;
  /** 'error' (default): unknown or missing codes stop the run; 'report': stage them as unclassified. */
  unknownCodes?: 'error' | 'report';
  force?: boolean;
  /** Vintages staged in parallel worker processes (each vintage is read and written by one process). */
  jobs?: number;
  /** Silences the progress of worker processes (they log to stderr themselves). */
  quiet?: boolean;
  logger?: Logger;
}

/** Parses `YEAR=PATH[#layer]` or `DEP:YEAR=PATH[#layer]`. */
export function parseVintageSpec(spec: string): VintageSource {
  const match = /^(?:([0-9]{2,3}|2[AB]):)?([0-9]{4})=(.+)$/i.exec(spec.trim());
  if (!match) {
    throw new UserError(`bad vintage '${spec}'`, { remedy: 'expected YEAR=PATH[#layer] or DEP:YEAR=PATH[#layer], e.g. 2019=ocs.gpkg#ocsge_2019' });
  }
  const { path: file, layer } = splitLayer(match[3]!);
  return { year: Number(match[2]), departement: match[1]?.toUpperCase() ?? null, path: file, ...(layer !== undefined ? { layer } : {}) };
}

/**
 * One source per vintage of a multi-date layer (`PATH[#layer]`): the years found in its column
 * names, or `years` when given (each must have its columns).
 */
export function multiDateSources(spec: string, options: { profile?: string; fields?: Record<string, string>; years?: number[] } = {}): VintageSource[] {
  const { path: file, layer: layerName } = splitLayer(spec);
  const profile = loadProfile(options.profile ?? 'ocsge');
  const dataset = openDataset(file);
  try {
    const layers: gdal.Layer[] = [];
    dataset.layers.forEach((layer) => void layers.push(layer));
    const layer = layerName === undefined ? (layers.length === 1 ? layers[0] : undefined) : layers.find((l) => l.name.toLowerCase() === layerName.toLowerCase());
    if (!layer) {
      throw new UserError(layerName === undefined ? `${layers.length} layers` : `no layer named ${layerName}`, {
        file,
        remedy: `choose one with PATH#layer among ${layers.map((l) => l.name).join(', ')}`,
      });
    }
    const found = multiDateYears(layer, profile.roles, options.fields ?? {});
    if (found.length === 0) {
      throw new UserError('no multi-date code columns (expected e.g. code_cs_2019, code_us_2019)', {
        file,
        layer: layer.name,
        remedy: `the layer's fields are ${layer.fields.getNames().join(', ')}; name the base with --cs-field/--us-field or --field role=NAME`,
      });
    }
    const missing = (options.years ?? []).filter((year) => !found.includes(year));
    if (missing.length > 0) {
      throw new UserError(`no code columns for ${missing.join(', ')}`, { file, layer: layer.name, remedy: `the layer has vintages ${found.join(', ')}` });
    }
    const years = options.years && options.years.length > 0 ? [...options.years].sort((a, b) => a - b) : found;
    return years.map((year) => ({ year, departement: null, path: file, layer: layer.name }));
  } finally {
    dataset.close();
  }
}

/** `2019`, or `67-2019` for a vintage of one département: the key of a staged vintage. */
export const stagingKey = (source: VintageSource): string => (source.departement ? `${source.departement}-${source.year}` : String(source.year));

interface Plan {
  source: VintageSource;
  key: string;
  opened: OpenedSource;
  files: string[];
}

/** Stages the given vintages; resolves to the manifest written beside them. */
export async function ingestVintages(sources: VintageSource[], options: IngestOptions): Promise<StageManifest> {
  const logger = options.logger ?? silentLogger;
  if (sources.length === 0) throw noVintage();
  const nomenclature = loadNomenclature();
  const profile = ingestProfile(options);
  const plans = await inStage('ingest', 'preflight', () => preflight(sources, profile, options));
  // The checks are done: each vintage is opened again by whichever process stages it.
  for (const plan of plans) plan.opened.close();
  const inputs = sources.map((source) => splitLayer(source.path).path);
  return AtomicOutput.write(options.stageDir, { force: options.force, directory: true, inputs }, async (tempDir) => {
    const tasks = plans.map((plan): VintageTask => ({ source: plan.source, key: plan.key, files: plan.files, tempDir, options: taskOptions(options) }));
    const jobs = Math.min(options.jobs ?? 1, tasks.length);
    const vintages =
      jobs > 1 ? await stageInWorkers(tasks, jobs) : await sequentially(tasks, (task) => inStage('ingest', task.key, () => stageVintageTask(task, logger)));
    const manifest: StageManifest = { crs: 'EPSG:2154', nomenclatureVersion: nomenclature.version, profile: profile.name, vintages };
    await writeFile(path.join(tempDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  });
}

/**
 * Stages the vintages of IGN deliveries (`--ocsge`, see deliveries.ts) along with `sources`. Archives
 * are extracted into `cacheDir`, else into a temporary sibling of the stage directory removed afterwards.
 */
export async function ingestDeliveries(scan: DeliveryScan, sources: VintageSource[], options: IngestOptions & { cacheDir?: string }): Promise<StageManifest> {
  const stage = path.resolve(options.stageDir);
  const workDir = path.join(path.dirname(stage), `.${path.basename(stage)}.ocsge-${process.pid}`);
  try {
    const opened = await inStage('ingest', 'ocsge', () => openDeliveries(scan, { workDir, ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}) }));
    return await ingestVintages([...sources, ...opened.sources], options);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * One step of an ingest worker: the copy of a vintage (read, classify, repair, write), or its overlap check once
 * copied. The two are separate tasks so that three vintages on two workers take about 1.5 vintage-times rather
 * than 2: a worker checks one vintage while the other copies the third.
 */
export type IngestStep = { phase: 'copy'; vintage: VintageTask } | { phase: 'check'; vintage: VintageTask; copied?: CopiedVintage };

/** Copies then checks the vintages over `jobs` worker processes; the staged vintages in task order. */
async function stageInWorkers(tasks: VintageTask[], jobs: number): Promise<StagedVintage[]> {
  const steps: IngestStep[] = [...tasks.map((vintage) => ({ phase: 'copy' as const, vintage })), ...tasks.map((vintage) => ({ phase: 'check' as const, vintage }))];
  const results = await runInWorkers<never, IngestStep, CopiedVintage | StagedVintage>({
    module: import.meta.url,
    basename: 'worker',
    jobs,
    tasks: steps,
    stage: 'ingest',
    shard: (step) => step.vintage.key,
    dependency: {
      of: (step, index) => (step.phase === 'check' ? index - tasks.length : null),
      withResult: (step, copied) => ({ ...step, copied: copied as CopiedVintage }),
    },
  });
  return results.slice(tasks.length) as StagedVintage[];
}

/** Runs one worker step (in an ingest worker process). */
export async function runIngestStep(step: IngestStep, logger: Logger): Promise<CopiedVintage | StagedVintage> {
  if (step.phase === 'copy') return copyVintageTask(step.vintage, logger);
  if (!step.copied) throw new Error(`overlap check of ${step.vintage.key} sent without its copy`);
  return checkVintage(step.vintage, step.copied, logger);
}

/** One vintage to stage: what a worker process needs to open, classify and write it. */
export interface VintageTask {
  source: VintageSource;
  key: string;
  files: string[];
  tempDir: string;
  options: Pick<IngestOptions, 'profile' | 'fields' | 'multiDate' | 'assumeCrs' | 'unknownCodes' | 'quiet'>;
}

function taskOptions(options: IngestOptions): VintageTask['options'] {
  const { profile, fields, multiDate, assumeCrs, unknownCodes, quiet } = options;
  return { profile, fields, multiDate, assumeCrs, unknownCodes, quiet };
}

async function sequentially<T, R>(items: readonly T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (const item of items) results.push(await work(item));
  return results;
}

/** Opens, classifies, stages and checks one vintage in this process. */
async function stageVintageTask(task: VintageTask, logger: Logger): Promise<StagedVintage> {
  return checkVintage(task, await copyVintageTask(task, logger), logger);
}

/** Opens one vintage and copies it to its staged file (in this process or in an ingest worker). */
function copyVintageTask(task: VintageTask, logger: Logger): CopiedVintage {
  const nomenclature = loadNomenclature();
  const profile = loadProfile(task.options.profile ?? 'ocsge');
  const opened = openSource(task.source, {
    roles: profile.roles,
    overrides: task.options.fields ?? {},
    multiDateYear: task.options.multiDate ? task.source.year : null,
    assumeCrs: task.options.assumeCrs,
  });
  try {
    return copyVintage(opened, task, nomenclature, profile, logger);
  } finally {
    opened.close();
  }
}

const noVintage = (): UserError => new UserError('no vintage given', { remedy: 'pass --vintage YEAR=PATH[#layer], --multi-date PATH or --ocsge DIR' });

/** The options' profile, with the field overrides checked against its roles. */
function ingestProfile(options: Pick<IngestOptions, 'profile' | 'fields'>): Profile {
  const profile = loadProfile(options.profile ?? 'ocsge');
  const unknownRoles = Object.keys(options.fields ?? {}).filter((role) => !(role in profile.roles));
  if (unknownRoles.length > 0) {
    throw new UserError(`profile ${profile.name} has no role ${unknownRoles.join(', ')}`, { remedy: `its roles are ${Object.keys(profile.roles).join(', ')}` });
  }
  return profile;
}

/**
 * Opens and checks every source (files, layers, fields, CRS, a vintage given twice) and closes it again, staging
 * nothing: `run` checks all its vintages before its first shard.
 */
export async function checkVintageSources(sources: VintageSource[], options: Omit<IngestOptions, 'stageDir'>): Promise<void> {
  if (sources.length === 0) throw noVintage();
  const profile = ingestProfile(options);
  const plans = await inStage('ingest', 'preflight', () => openSources(sources, profile, options));
  for (const plan of plans) plan.opened.close();
}

/** Opens and checks every source, and the free disk space, before anything is written. */
async function preflight(sources: VintageSource[], profile: Profile, options: IngestOptions): Promise<Plan[]> {
  const plans = await openSources(sources, profile, options);
  try {
    await checkDiskSpace(options.stageDir, plans);
    return plans;
  } catch (error) {
    for (const plan of plans) plan.opened.close();
    throw error;
  }
}

async function openSources(sources: VintageSource[], profile: Profile, options: Omit<IngestOptions, 'stageDir'>): Promise<Plan[]> {
  const keys = new Set<string>();
  const plans: Plan[] = [];
  try {
    for (const source of sources) {
      const key = stagingKey(source);
      if (keys.has(key)) throw new UserError(`vintage ${key} given twice`, { file: source.path, remedy: 'give each YEAR (or DEP:YEAR) once' });
      keys.add(key);
      const opened = openSource(source, {
        roles: profile.roles,
        overrides: options.fields ?? {},
        multiDateYear: options.multiDate ? source.year : null,
        assumeCrs: options.assumeCrs,
      });
      plans.push({ source, key, opened, files: datasetFiles(opened.file) });
    }
    return plans;
  } catch (error) {
    for (const plan of plans) plan.opened.close();
    throw error;
  }
}

/** Staged FlatGeobuf with its spatial index and temporary copy take about twice the sources' size. */
async function checkDiskSpace(stageDir: string, plans: Plan[]): Promise<void> {
  let needed = 0;
  for (const plan of plans) for (const file of plan.files) needed += 2 * (await stat(file)).size;
  const dir = await nearestFolder(path.resolve(stageDir));
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  if (free < needed) {
    throw new UserError(`not enough disk space: ${mb(free)} free, about ${mb(needed)} needed`, { file: dir, remedy: 'free some space or choose another --out' });
  }
}

const mb = (bytes: number): string => `${Math.ceil(bytes / 1e6)} MB`;


const stagedFileName = (key: string): string => `vintage-${key}.fgb`;

/** Resolves the overlaps within a copied vintage, reports its repairs and gives its manifest entry. */
async function checkVintage(task: VintageTask, copied: CopiedVintage, logger: Logger): Promise<StagedVintage> {
  const { key } = task;
  const { read, repairs, unknown, firstDuplicate } = copied;
  // The overlap check reads the copy twice and writes the staged file: on a large vintage it takes about as long as the copy.
  const checkStarted = performance.now();
  const fileName = stagedFileName(key);
  const { staged, areaM2, byCategory } = resolveOverlaps(path.join(task.tempDir, unsortedFileName(key)), path.join(task.tempDir, fileName), repairs);
  const checkSeconds = (performance.now() - checkStarted) / 1000;
  if (repairs.overlaps_resolved > 0) {
    const n = repairs.overlaps_resolved;
    logger.warn(`ingest ${key}: ${n} polygon${n > 1 ? 's overlap' : ' overlaps'} earlier ones of the vintage; the polygon first in staged order keeps the ${round(repairs.overlap_area_m2)} m² shared`);
  }
  for (const [label, entry] of unknown) {
    logger.warn(`ingest ${key}: unclassified code ${label}: ${entry.count} features (e.g. feature ${entry.example})`);
  }
  if (repairs.duplicate_ids > 0) {
    logger.warn(`ingest ${key}: ${repairs.duplicate_ids} features repeat an earlier ${copied.idField} (e.g. ${firstDuplicate}); kept, so src_id is not unique`);
  }
  if (repairs.invalid_repair_area_change_m2 > 0 || repairs.area_dropped_m2 > 0) {
    logger.warn(
      `ingest ${key}: geometry repairs changed ${round(repairs.invalid_repair_area_change_m2)} m² and dropped ${round(repairs.area_dropped_m2)} m² of degenerate polygons`,
    );
  }
  const seconds = copied.copySeconds + checkSeconds;
  logger.info(
    `ingest ${key}: ${read} features → ${staged} polygons, ${round(areaM2 / 1e4)} ha in ${seconds.toFixed(1)} s ` +
      `(copy ${copied.copySeconds.toFixed(1)} s, overlap check ${checkSeconds.toFixed(1)} s), ${Math.round(read / Math.max(seconds, 1e-9))} features/s`,
  );

  const countsByCategory: Record<string, number> = {};
  for (const category of [...byCategory.keys()].sort((a, b) => a - b)) countsByCategory[String(category)] = byCategory.get(category)!;
  return {
    year: task.source.year,
    departement: task.source.departement,
    key,
    path: fileName,
    source: { path: task.source.origin ?? copied.file, layer: copied.layerName, sha256: await filesSha256(task.files), crs: copied.crs },
    features: staged,
    areaM2,
    repairs: { ...repairs },
    countsByCategory,
  };
}

const round = (n: number): number => Math.round(n * 100) / 100;
