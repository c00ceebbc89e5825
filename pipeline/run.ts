import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadNomenclature } from '../nomenclature/loader.js';
import { loadVintageYears } from '../nomenclature/vintage-years.js';
import { inStage, UserError } from './core/errors.js';
import { exportTables } from './exports/index.js';
import type { VintageSource } from './ingest/index.js';
import { datasetFiles, filesSha256, splitLayer } from './core/datasets.js';
import { openDeliveries, type DeliveryEntry, type DeliveryScan } from './ingest/deliveries.js';
import { silentLogger, type Logger } from './core/log.js';
import { computeIndicators } from './indicators/index.js';
import { fallbackLine } from './indicators/real-years.js';
import { readPlanningDocuments, readTargets, type PlanningDocumentRow, type TargetRow } from './indicators/trajectory-inputs.js';
import { ceremaForTerritories, ceremaReportLines, readCeremaFile, type CeremaFile, type CeremaReport } from './cerema/index.js';
import { loadZanRules } from '../nomenclature/zan-rules.js';
import { AtomicOutput } from './core/atomic-output.js';
import { markOutputFolder } from './core/output-checks.js';
import type { OverlayStats } from './overlay/index.js';
import { buildShards, type ShardIngestOptions } from './shards/index.js';
import { checkRedis } from './queue/index.js';
import { buildPortraits } from './portraits/index.js';
import { PhaseMeter } from './core/resources.js';
import { readTerritories, territoryGeometries, type ReadTerritoriesInput, type TerritoriesReport } from './territories/index.js';
import { buildTiles, DEFAULT_ZOOMS } from './tiles/index.js';
import type { IgnDifferenceSource, StageManifest } from './core/types.js';
import { TOOL_VERSION } from './core/version.js';
import { openDuckDB } from './core/duckdb.js';

/**
 * The whole pipeline in one call: territories → shards (ingest + overlay per département, reused from the
 * shard cache when their inputs did not change) → indicators → portraits → exports → tiles, built in a
 * temporary directory renamed to `out` only when every stage succeeded.
 *
 * @example
 * await runPipeline({
 *   sources: [{ year: 2019, departement: null, path: 'ocs.gpkg#ocsge_2019' }, …],
 *   ingest: { profile: 'ocsge' }, territories: { path: 'communes.geojson' }, out: 'OUT', jobs: 2,
 * });
 */

export interface RunInput {
  sources: VintageSource[];
  /** IGN OCS GE deliveries (`--ocsge`): their vintages join `sources`, their difference layers feed check_ign_difference. */
  deliveries?: { scan: DeliveryScan };
  ingest: ShardIngestOptions;
  /** `--cache`: extracted archives at its top (keyed by their sha256), shards in `shards/` (keyed by their content hash). Without it, both live in the output's temporary folder. */
  cacheDir?: string;
  /** `redis://HOST:PORT[/DB]`: shards missing from the cache are computed by `ocs-zan worker` processes (needs cacheDir). */
  queue?: string;
  territories: ReadTerritoriesInput;
  /**
   * Paths as written in a config file (relative to it), by option name (`territories`, `targets`,
   * `planningDocuments`): recorded in run_metadata instead of the resolved ones, so that outputs do not
   * change when the inputs move with the file.
   */
  writtenPaths?: Record<string, string>;
  out: string;
  jobs: number;
  force?: boolean;
  /** Tile zooms, or false to skip tiles. */
  tiles?: false | { minzoom: number; maxzoom: number };
  portraits?: boolean;
  /** Year table of the nominal vintages: a built-in name (`ocs-grand-est`) or a CSV path; without it labels are years. */
  vintageYears?: string;
  /** Applies the décret's threshold rules to matrix-classified vintages (default true; --no-thresholds). */
  thresholds?: boolean;
  /** Cerema commune file (CSV or zipped shapefile): the trajectory's legal source. */
  cerema?: string;
  /** `level,code,reduction_target[,document]` CSV of territory targets. */
  targets?: string;
  /** `commune_code,document` CSV of planning documents (garantie communale). */
  planningDocuments?: string;
  /** Silences worker processes' progress (the logger covers this process). */
  quiet?: boolean;
  /** Resolved options, recorded in run_metadata (config file, flags). */
  options?: Record<string, unknown>;
  logger?: Logger;
}

export interface StageTiming {
  name: string;
  seconds: number;
  peakRssBytes: number;
}

export interface RunSummary {
  out: string;
  manifest: StageManifest;
  communes: number;
  /** Shards of the run (one per département): found in the cache, or computed. */
  shards: { total: number; reused: number; computed: number };
  overlay: OverlayStats;
  tables: Record<string, number>;
  tiles: { path: string; tiles: number; bytes: number } | null;
  portraits: { index: string; portraits: number } | null;
  /** Largest gaps of check_ign_difference at commune level (empty without IGN difference products). */
  ignGaps: IgnGap[];
  /** With --vintage-years: the table used and one line per département and vintage that fell back to its label. */
  vintageYears?: { table: string; fallbacks: string[] };
  /** Coverage of the Cerema file against the territories, when one was given. */
  cerema: CeremaReport | null;
  stages: StageTiming[];
  seconds: number;
  /** Coverage warnings (vintages covering part of the communes, communes without data), also in run_metadata. */
  warnings: string[];
}

export interface IgnGap {
  code: string;
  period: string;
  measure: string;
  ours_m2: number;
  ign_m2: number;
  diff_m2: number;
}

/** Gaps of check_ign_difference shown in the run summary, largest first. */
const IGN_GAPS_SHOWN = 5;

const STAGES = ['territories', 'shards (ingest + overlay per département)', 'indicators', 'portraits', 'exports', 'tiles'] as const;

export async function runPipeline(input: RunInput): Promise<RunSummary> {
  const logger = input.logger ?? silentLogger;
  const started = performance.now();
  const skipped = new Set<string>([...(input.tiles === false ? ['tiles'] : []), ...(input.portraits === false ? ['portraits'] : [])]);
  logger.info(`ocs-zan ${TOOL_VERSION}: running ${STAGES.filter((s) => !skipped.has(s)).join(' → ')} into ${path.resolve(input.out)}`);
  if (input.queue !== undefined) {
    if (input.cacheDir === undefined) throw new UserError('--queue needs --cache DIR', { remedy: 'a folder every worker sees at the same path (NFS or identical mounts) to hold the shards' });
    await checkRedis(input.queue);
  }
  // A wrong year table stops the run before any heavy work.
  const vintageYears = input.vintageYears === undefined ? undefined : loadVintageYears(input.vintageYears);
  const meter = new PhaseMeter();
  try {
    // Small inputs are read and checked before any heavy work.
    const cerema: CeremaFile | null = input.cerema ? readCeremaFile(input.cerema) : null;
    const targets: TargetRow[] = input.targets ? readTargets(input.targets) : [];
    const planningDocuments: PlanningDocumentRow[] | null = input.planningDocuments ? readPlanningDocuments(input.planningDocuments, loadZanRules()) : null;
    return await AtomicOutput.write(input.out, { force: input.force, directory: true, inputs: runInputs(input) }, async (dir) => {
      meter.start('territories');
      const territories = await inStage('territories', undefined, () => readTerritories(input.territories));
      logger.info(`territories: ${territories.communes.length} communes`);
      for (const line of territoriesReportLines(territories.report)) logger.warn(line);

      meter.start('shards');
      // Archives are extracted into the output's temporary folder (or the cache), removed once the indicators are built.
      const deliveryDir = path.join(dir, '.ocsge');
      let sources = input.sources;
      let ignDifferences: IgnDifferenceSource[] = [];
      if (input.deliveries) {
        const opened = await inStage('ingest', 'ocsge', () => openDeliveries(input.deliveries!.scan, { workDir: deliveryDir, ...(input.cacheDir !== undefined ? { cacheDir: input.cacheDir } : {}) }));
        logger.info(`ingest: --ocsge ${opened.sources.length} vintages, ${opened.checks.length} IGN difference layers; ${opened.extracted} archives extracted, ${opened.cached} found in the cache`);
        sources = [...sources, ...opened.sources];
        ignDifferences = opened.checks;
      }
      const workDir = path.join(dir, '.work');
      const overlaid = await buildShards({
        sources,
        ingest: input.ingest,
        territories,
        thresholds: input.thresholds === false ? null : loadZanRules().thresholds,
        cacheDir: input.cacheDir !== undefined ? path.join(input.cacheDir, 'shards') : path.join(workDir, 'shards'),
        workDir,
        jobs: input.jobs,
        quiet: input.quiet,
        ...(input.queue !== undefined ? { queue: input.queue } : {}),
        logger,
      });
      const manifest = overlaid.manifest;
      const warnings = coverageWarnings(overlaid.stats);
      for (const line of warnings) logger.warn(line);

      meter.start('indicators');
      const ceremaRows = cerema ? ceremaForTerritories(cerema, territories.communes.map((c) => c.code)) : null;
      if (ceremaRows) for (const line of ceremaReportLines(ceremaRows.report)) logger.warn(line);
      const nomenclature = loadNomenclature();
      const dbPath = path.join(dir, 'ocs.duckdb');
      const db = await computeIndicators({
        dbPath,
        pieceParquet: overlaid.pieceParquet,
        pieceClassParquet: overlaid.pieceClassParquet,
        territories: { ...territories, unions: territoryGeometries(territories) },
        nomenclature,
        ...(vintageYears ? { vintageYears } : {}),
        runMetadata: {
          ...runMetadata(input, manifest, nomenclature.version, overlaid.stats, warnings, await filesSha256(datasetFiles(splitLayer(input.territories.path).path))),
          ...(await trajectoryMetadata(input, ceremaRows?.report ?? null)),
        },
        ignDifferences,
        trajectory: { cerema: ceremaRows?.rows ?? null, targets, planningDocuments },
        logger,
      });
      await rm(workDir, { recursive: true, force: true });
      await rm(deliveryDir, { recursive: true, force: true });
      const ignGaps = await largestIgnGaps(dbPath);

      let portraits: RunSummary['portraits'] = null;
      if (input.portraits !== false) {
        meter.start('portraits');
        const result = await buildPortraits({ db: dbPath, out: path.join(dir, 'portraits'), force: true, logger });
        portraits = { index: path.join(input.out, 'portraits', 'index.html'), portraits: result.portraits };
      }

      meter.start('exports');
      await exportTables({ dbPath, parquetDir: path.join(dir, 'parquet'), csvDir: path.join(dir, 'csv'), logger });
      // `ocs-zan export --out OUT --force` may replace these two later.
      await markOutputFolder(path.join(dir, 'parquet'));
      await markOutputFolder(path.join(dir, 'csv'));

      let tiles: RunSummary['tiles'] = null;
      if (input.tiles !== false) {
        meter.start('tiles');
        const zooms = input.tiles ?? DEFAULT_ZOOMS;
        const result = await buildTiles({ db: dbPath, out: path.join(dir, 'tiles', 'ocs.pmtiles'), ...zooms, jobs: input.jobs, force: true, logger });
        tiles = { path: path.join(input.out, 'tiles', 'ocs.pmtiles'), tiles: result.tiles, bytes: result.bytes };
      }

      const stages = meter.stop();
      const seconds = (performance.now() - started) / 1000;
      // Timings and --jobs vary from run to run: they go into the database only, after the exports, which stay byte-identical.
      await recordTimings(dbPath, stages, seconds, input.jobs);
      const summary: RunSummary = {
        out: input.out, manifest, communes: territories.communes.length, overlay: overlaid.stats, shards: overlaid.shards, tables: db.rows, tiles, portraits, ignGaps,
        ...(vintageYears ? { vintageYears: { table: vintageYears.name, fallbacks: db.vintageYearFallbacks.map(fallbackLine) } } : {}),
        cerema: ceremaRows?.report ?? null, stages, seconds, warnings,
      };
      await writeFile(path.join(dir, 'run-summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
      return summary;
    });
  } finally {
    meter.stop();
  }
}

/** Every file the run reads: an output folder holding one of them is refused. */
function runInputs(input: RunInput): string[] {
  const config = input.options?.['config'];
  return [
    ...input.sources.map((source) => splitLayer(source.path).path),
    splitLayer(input.territories.path).path,
    ...(input.territories.scotCsv ? [input.territories.scotCsv] : []),
    ...[input.cerema, input.targets, input.planningDocuments].filter((file): file is string => file !== undefined),
    ...(input.deliveries ? [input.deliveries.scan.dir] : []),
    ...(typeof config === 'string' ? [config] : []),
  ];
}

function territoriesReportLines(report: TerritoriesReport): string[] {
  const lines: string[] = [];
  if (report.overlaps > 0 || report.gaps > 0) {
    lines.push(
      `territories: ${report.overlaps} commune overlaps (${(report.overlaps_m2 / 1e4).toFixed(2)} ha, given to the lowest INSEE code), ` +
        `${report.gaps} gaps (${(report.gaps_m2 / 1e4).toFixed(2)} ha, given to the neighbour sharing the longest boundary)`,
    );
  }
  if (report.unmatched_communes.length > 0) {
    const shown = report.unmatched_communes.slice(0, 10).join(', ');
    lines.push(`territories: ${report.unmatched_communes.length} communes not in the current COG (merged since?): ${shown}${report.unmatched_communes.length > 10 ? '…' : ''}; computed at commune level, département from the INSEE code`);
  }
  if (report.scot_unknown_communes.length > 0) {
    lines.push(`territories: the SCoT file names ${report.scot_unknown_communes.length} communes that are not in the territories: ${report.scot_unknown_communes.slice(0, 10).join(', ')}`);
  }
  return lines;
}

/** Share of its communes' area a vintage may leave uncovered before the run warns (the `partial` coverage status threshold). */
const PARTIAL_COVERAGE = 0.005;

/** Vintages covering only part of their communes, and communes that no vintage covers at all. */
function coverageWarnings(stats: OverlayStats): string[] {
  const lines: string[] = [];
  for (const v of stats.vintages) {
    const total = v.covered_m2 + v.uncovered_m2;
    if (total > 0 && v.uncovered_m2 > PARTIAL_COVERAGE * total) {
      lines.push(
        `vintage ${v.key} covers only ${((100 * v.covered_m2) / total).toFixed(1)} % of its communes' area (${(v.uncovered_m2 / 1e4).toFixed(2)} ha without data): its indicators are partial`,
      );
    }
  }
  const none = stats.communesWithoutData;
  if (none.length > 0) {
    lines.push(`${none.length} ${none.length > 1 ? 'communes have' : 'commune has'} no OCS data at any vintage: ${none.slice(0, 10).join(', ')}${none.length > 10 ? '…' : ''} (check that the vintages cover them)`);
  }
  return lines;
}

/** Options that cannot change any result: left out of the exported metadata so that exports compare byte for byte. */
const OPTIONS_WITHOUT_EFFECT = new Set(['jobs', 'out', 'force', 'quiet', 'verbose', 'config', 'cache', 'queue', 'dryRun']);

/** Deterministic metadata: inputs with checksums, options, versions. Timings are added by recordTimings. */
function runMetadata(
  input: RunInput,
  manifest: StageManifest,
  nomenclatureVersion: string,
  stats: OverlayStats,
  warnings: string[],
  territoriesSha256: string,
): Record<string, string> {
  const metadata: Record<string, string> = {
    tool_version: TOOL_VERSION,
    nomenclature_version: nomenclatureVersion,
    profile: manifest.profile,
    crs: 'EPSG:2154',
    territories: JSON.stringify({ path: input.writtenPaths?.['territories'] ?? input.territories.path, sha256: territoriesSha256 }),
    enaf_measure: 'ENAF consumption measured from land use (OCS): regional practice, not the official Cerema land-tax figure',
  };
  for (const vintage of manifest.vintages) {
    metadata[`input.${vintage.key}`] = JSON.stringify({ path: vintage.source.path, layer: vintage.source.layer, sha256: vintage.source.sha256, crs: vintage.source.crs, features: vintage.features });
    metadata[`repairs.${vintage.key}`] = JSON.stringify(vintage.repairs);
  }
  if (input.deliveries) metadata['ocsge.deliveries'] = JSON.stringify(input.deliveries.scan.entries.map((e: DeliveryEntry) => [e.status, e.what, e.path, e.reason]));
  const options = Object.fromEntries(Object.entries(input.options ?? {}).filter(([key]) => !OPTIONS_WITHOUT_EFFECT.has(key)));
  metadata['options'] = JSON.stringify(options, Object.keys(options).sort());
  metadata['overlay.pieces'] = String(stats.pieces);
  metadata['overlay.slivers'] = JSON.stringify(stats.slivers);
  metadata['warnings'] = JSON.stringify(warnings);
  metadata['thresholds'] = JSON.stringify({ applied: stats.thresholds.applied, classes: stats.thresholds.classes, area_m2: Math.round(stats.thresholds.area_m2 * 1e3) / 1e3 });
  return metadata;
}

/** The trajectory inputs with their checksums, and the Cerema coverage report. */
async function trajectoryMetadata(input: RunInput, cerema: CeremaReport | null): Promise<Record<string, string>> {
  const metadata: Record<string, string> = { zan_rules_version: loadZanRules().version };
  if (input.cerema && cerema) {
    metadata['cerema'] = JSON.stringify({ ...cerema, file: input.writtenPaths?.['cerema'] ?? cerema.file, sha256: await filesSha256([input.cerema]) });
  }
  for (const [key, option, file] of [['targets', 'targets', input.targets], ['planning_documents', 'planningDocuments', input.planningDocuments]] as const) {
    if (file) metadata[key] = JSON.stringify({ path: input.writtenPaths?.[option] ?? file, sha256: await filesSha256([file]) });
  }
  return metadata;
}

/** The commune rows of check_ign_difference with a gap of at least 1 cm², largest first. */
async function largestIgnGaps(dbPath: string): Promise<IgnGap[]> {
  const instance = await openDuckDB(dbPath, { storage_compatibility_version: 'latest', access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(
      `SELECT code, period, measure, ours_m2, ign_m2, diff_m2 FROM check_ign_difference
       WHERE level = 'commune' AND abs(diff_m2) >= 0.01 ORDER BY abs(diff_m2) DESC, code, period, measure LIMIT ${IGN_GAPS_SHOWN}`,
    );
    return reader.getRowObjectsJS() as unknown as IgnGap[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function recordTimings(dbPath: string, stages: StageTiming[], seconds: number, jobs: number): Promise<void> {
  const instance = await openDuckDB(dbPath, { storage_compatibility_version: 'latest' });
  const connection = await instance.connect();
  try {
    const rows: Array<[string, string]> = [
      ['timing.total_seconds', seconds.toFixed(3)],
      ['options.jobs', String(jobs)],
      ...stages.map((s): [string, string] => [`timing.${s.name}`, JSON.stringify({ seconds: Number(s.seconds.toFixed(3)), peak_rss_mb: Math.round(s.peakRssBytes / 2 ** 20) })]),
    ];
    for (const [key, value] of rows) {
      await connection.run(`INSERT INTO run_metadata VALUES ($key, $value)`, { key, value });
    }
    await connection.run('CHECKPOINT');
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
