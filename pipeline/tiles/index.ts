/**
 * Stage `tiles`: OUT/ocs.duckdb → one PMTiles v3 archive of gzip MVT tiles (land use per vintage,
 * changes per period, territories with headline indicators), with vector_layers, bounds, centre,
 * attribution, the décret 2023-1096 legend and per-zoom drop counts in its metadata.
 *
 * Plan: index pieces and territories with bounding boxes in a scratch DuckDB (plan.ts), cut
 * partitions (one tile per low zoom, or a z12 tile and all its descendants) in worker processes
 * that stream tile blobs to temp files (worker.ts), then assemble a clustered, deduplicated
 * archive (pmtiles-writer.ts). The result does not depend on `jobs`.
 *
 * @example
 * const summary = await buildTiles({ db: 'OUT/ocs.duckdb', out: 'OUT/tiles/ocs.pmtiles', minzoom: 6, maxzoom: 14, format: 'pmtiles', jobs: 2 });
 */
import { existsSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { inStage, UserError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { AtomicOutput } from '../core/atomic-output.js';
import { TOOL_VERSION } from '../core/version.js';
import { runInWorkers } from '../core/worker-pool.js';
import { scratchFolder } from '../core/scratch.js';
import { levelZooms, prepareTileIndex, type Partition } from './plan.js';
import { addDrop, type DropCounts } from './builder.js';
import { CHANGE_FIELDS, LANDUSE_FIELDS, TERRITORY_FIELDS, landuseLayer, territoryLayer } from './layers.js';
import { writePmtiles, type TileRef } from './pmtiles-writer.js';
import type { PartitionResult, WorkerInit } from './worker.js';

export const ATTRIBUTION = 'OCS GE IGN / ocs-zan';
export const DEFAULT_TILE_BUDGET_BYTES = 500_000;
/** Default zoom range: the département overview (6) to full detail (14); MAX_ZOOM bounds --maxzoom. */
export const DEFAULT_ZOOMS = { minzoom: 6, maxzoom: 14 } as const;
export const MAX_ZOOM = 16;
/** Zoom of the partitions that produce themselves and all their descendants (a z12 tile is ~6 km wide in France: bounded memory with dense OCS). */
const PARTITION_ZOOM = 12;

export type TileFormat = 'pmtiles';

export interface BuildTilesInput {
  db: string;
  out: string;
  minzoom?: number;
  maxzoom?: number;
  format?: TileFormat;
  jobs?: number;
  force?: boolean;
  /** Largest compressed tile allowed; bigger ones lose their smallest pieces. */
  budgetBytes?: number;
  logger?: Logger;
}

export interface ZoomStats {
  tiles: number;
  bytes: number;
  largest: number;
}

export interface BuildTilesSummary {
  path: string;
  tiles: number;
  distinctTiles: number;
  bytes: number;
  largestTile: { z: number; tileId: number; bytes: number };
  perZoom: Record<string, ZoomStats>;
  dropped: DropCounts;
  layers: string[];
  partitions: number;
  seconds: number;
}

/**
 * A partition's features and geojson-vt index live until its tiles are written, so most young objects survive a
 * scavenge and V8's default 16 MB semi-space copies them over and over: scavenges took a third of a tile worker.
 * 128 MB: Bas-Rhin tiles 111.6 s → 86.5 s, peak RSS 1,466 → 1,629 MB (docs/PERFORMANCE.md).
 */
const TILE_WORKER_SEMI_SPACE = '--max-semi-space-size=128';

/** Runs partitions over `jobs` worker processes, each streaming its tiles to its own blob file. */
async function runPartitions(partitions: Partition[], jobs: number, init: Omit<WorkerInit, 'blobFile'>, workDir: string, logger: Logger): Promise<PartitionResult[]> {
  const progress = logger.progress('tiles: partitions', 'partitions');
  return runInWorkers<WorkerInit, Partition, PartitionResult>({
    module: import.meta.url,
    basename: 'worker',
    jobs,
    tasks: partitions,
    init: (worker) => ({ ...init, blobFile: path.join(workDir, `blobs-${worker}.bin`) }),
    stage: 'tiles',
    shard: (p) => `${p.z}/${p.x}/${p.y}`,
    onResult: () => progress.tick(),
    nodeFlags: [TILE_WORKER_SEMI_SPACE],
  });
}

function checkInput(input: BuildTilesInput, minzoom: number, maxzoom: number): void {
  if (!existsSync(input.db)) throw new UserError('DuckDB file not found', { file: input.db, remedy: 'run `ocs-zan run` first or fix --db' });
  if (!Number.isInteger(minzoom) || !Number.isInteger(maxzoom) || minzoom < 0 || maxzoom > MAX_ZOOM || minzoom > maxzoom) {
    throw new UserError(`invalid zoom range ${minzoom}–${maxzoom}`, { remedy: `use 0 <= --minzoom <= --maxzoom <= ${MAX_ZOOM}` });
  }
  if ((input.format ?? 'pmtiles') !== 'pmtiles') throw new UserError(`unsupported tile format ${input.format}`, { remedy: 'use --format pmtiles' });
}

export async function buildTiles(input: BuildTilesInput): Promise<BuildTilesSummary> {
  const started = performance.now();
  const logger = input.logger ?? silentLogger;
  const minzoom = input.minzoom ?? DEFAULT_ZOOMS.minzoom;
  const maxzoom = input.maxzoom ?? DEFAULT_ZOOMS.maxzoom;
  const budgetBytes = input.budgetBytes ?? DEFAULT_TILE_BUDGET_BYTES;
  checkInput(input, minzoom, maxzoom);
  const db = path.resolve(input.db);
  return inStage('tiles', undefined, () =>
    AtomicOutput.write(input.out, { force: input.force, inputs: [db] }, async (tempPath) => {
      const workDir = await scratchFolder('ocs-zan-tiles-');
      try {
        const indexPath = path.join(workDir, 'index.duckdb');
        const partitionZoom = Math.min(Math.max(PARTITION_ZOOM, minzoom), maxzoom);
        const jobs = input.jobs ?? 2;
        logger.info(`tiles: z${minzoom}–${maxzoom}, partitions at z${partitionZoom} (one tile each below), ${jobs} worker(s)`);
        const plan = await prepareTileIndex({ db, indexPath, minzoom, maxzoom, partitionZoom, jobs, logger });
        const results = await runPartitions(plan.partitions, jobs, { indexPath, minzoom, maxzoom, budgetBytes }, workDir, logger);

        const tiles: Array<TileRef & { z: number }> = results.flatMap((r) => r.tiles);
        const dropped: DropCounts = {};
        for (const r of results) for (const [layer, perZoom] of Object.entries(r.dropped)) for (const [z, n] of Object.entries(perZoom)) addDrop(dropped, layer, Number(z), n);
        const sortedDropped = Object.fromEntries(Object.keys(dropped).sort().map((k) => [k, dropped[k]!]));
        const changeLayers = [...new Set(results.flatMap((r) => r.changeLayers))].sort();
        const perZoom: Record<string, ZoomStats> = {};
        let largestTile = { z: 0, tileId: 0, bytes: 0 };
        for (const t of tiles) {
          const s = (perZoom[t.z] ??= { tiles: 0, bytes: 0, largest: 0 });
          s.tiles += 1;
          s.bytes += t.length;
          s.largest = Math.max(s.largest, t.length);
          if (t.length > largestTile.bytes || (t.length === largestTile.bytes && t.tileId < largestTile.tileId)) largestTile = { z: t.z, tileId: t.tileId, bytes: t.length };
        }

        const vectorLayers = [
          ...plan.vintages.map((v) => ({ id: landuseLayer(v), description: `Land use at vintage ${v} (décret 2023-1096 category)`, minzoom, maxzoom, fields: LANDUSE_FIELDS })),
          ...changeLayers.map((id) => ({ id, description: `Pieces whose class changed, ${id.slice(7).replace('_', ' → ')}`, minzoom, maxzoom, fields: CHANGE_FIELDS })),
          ...plan.levels.map((level) => {
            const [lo, hi] = levelZooms(level, minzoom, maxzoom)!;
            return { id: territoryLayer(level), description: `Territories (${level}) with headline indicators`, minzoom: lo, maxzoom: hi, fields: TERRITORY_FIELDS };
          }),
        ];
        const round6 = (v: number): number => Math.round(v * 1e6) / 1e6;
        const bounds = (Number.isFinite(plan.bounds[0]) ? plan.bounds : [-180, -85, 180, 85]).map(round6) as [number, number, number, number];
        const fitZoom = Math.floor(Math.log2((360 / Math.max(bounds[2] - bounds[0], 1e-6)) * 3));
        const center: [number, number, number] = [round6((bounds[0] + bounds[2]) / 2), round6((bounds[1] + bounds[3]) / 2), Math.min(maxzoom, Math.max(minzoom, fitZoom))];
        const metadata = {
          name: 'ocs-zan',
          description: 'Land use (OCS) by vintage, changes between vintages and ZAN indicators by territory',
          attribution: ATTRIBUTION,
          type: 'overlay',
          format: 'pbf',
          generator: `ocs-zan ${TOOL_VERSION}`,
          minzoom,
          maxzoom,
          bounds,
          center,
          vector_layers: vectorLayers,
          vintages: plan.vintages,
          territory_levels: Object.fromEntries(plan.levels.map((l) => [l, levelZooms(l, minzoom, maxzoom)])),
          legend: plan.legend,
          tile_budget_bytes: budgetBytes,
          dropped_features: sortedDropped,
          tiles_per_zoom: perZoom,
        };
        const blobs = new BlobReader();
        const archive = await writePmtiles(tempPath, tiles, (tile) => blobs.read(tile), { minZoom: minzoom, maxZoom: maxzoom, bounds, center, metadata }).finally(() => blobs.close());
        for (const [layer, perZ] of Object.entries(sortedDropped)) logger.info(`tiles: dropped ${layer}: ${Object.entries(perZ).map(([z, n]) => `z${z} ${n}`).join(', ')}`);
        logger.info(`tiles: ${archive.addressedTiles} tiles (${archive.tileContents} distinct), ${(archive.bytes / 1e6).toFixed(2)} MB, largest ${largestTile.bytes} B`);
        return {
          path: path.resolve(input.out),
          tiles: archive.addressedTiles,
          distinctTiles: archive.tileContents,
          bytes: archive.bytes,
          largestTile,
          perZoom,
          dropped: sortedDropped,
          layers: vectorLayers.map((l) => l.id),
          partitions: plan.partitions.length,
          seconds: (performance.now() - started) / 1000,
        };
      } finally {
        await rm(workDir, { recursive: true, force: true });
      }
    }),
  );
}

/** Reads tile blobs back from the workers' files, keeping one handle per file open. */
class BlobReader {
  private readonly handles = new Map<string, FileHandle>();

  async read(tile: TileRef): Promise<Buffer> {
    let handle = this.handles.get(tile.file);
    if (!handle) this.handles.set(tile.file, (handle = await open(tile.file, 'r')));
    const buffer = Buffer.alloc(tile.length);
    await handle.read(buffer, 0, tile.length, tile.offset);
    return buffer;
  }

  async close(): Promise<void> {
    for (const handle of this.handles.values()) await handle.close();
    this.handles.clear();
  }
}
