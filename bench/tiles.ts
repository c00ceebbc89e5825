/**
 * Tiles benchmark: `buildTiles` on a DB (default: a synthetic grid of square pieces, one vintage so
 * that the land-use layer is the same one GDAL gets), reporting tiles/s, archive size, largest tile
 * and peak memory of the process tree (workers included); then GDAL's own MVT writer
 * (`ogr2ogr -f MVT`, same layer, same zoom range) on a GeoPackage export of that layer, and the
 * ratio of the two wall times. `npx tsx bench/tiles.ts [DB]` runs it alone; the bench runner calls
 * `benchTiles()`.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import gdal from 'gdal-async';
import { createLogger } from '../pipeline/core/log.js';
import { processTreeRssBytes } from '../pipeline/core/resources.js';
import { buildTiles } from '../pipeline/tiles/index.js';
import { buildTilesTestDb } from '../fixtures/generator/tiles-db.js';
import { openDuckDB } from '../pipeline/core/duckdb.js';

export interface TilesBenchResult {
  name: 'tiles';
  pieces: number;
  minzoom: number;
  maxzoom: number;
  tiles: number;
  seconds: number;
  tilesPerSecond: number;
  bytes: number;
  largestTileBytes: number;
  peakRssBytes: number;
  gdal: { seconds: number; tiles: number; bytes: number } | { error: string };
  /** GDAL wall time / ocs-zan wall time (> 1: ocs-zan is faster). */
  ratio: number | null;
}

/** Keeps only the last vintage's classes, so the archive holds one land-use layer (plus territories). */
async function lastVintageOnly(db: string): Promise<{ vintage: number; pieces: number }> {
  const instance = await openDuckDB(db);
  const conn = await instance.connect();
  try {
    const vintage = Number((await conn.runAndReadAll(`SELECT max(vintage) AS v FROM piece_class`)).getRowObjectsJS()[0]!.v);
    await conn.run(`DELETE FROM piece_class WHERE vintage <> ${vintage}`);
    const pieces = Number((await conn.runAndReadAll(`SELECT count(*) AS n FROM piece_class`)).getRowObjectsJS()[0]!.n);
    return { vintage, pieces };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** The land-use layer of one vintage as a GeoPackage in EPSG:2154 (what ogr2ogr reads). */
async function exportLanduse(db: string, vintage: number, gpkg: string): Promise<void> {
  const instance = await openDuckDB(db, { access_mode: 'READ_ONLY' });
  const conn = await instance.connect();
  const out = gdal.open(gpkg, 'w', 'GPKG');
  try {
    const layer = out.layers.create(`landuse_${vintage}`, gdal.SpatialReference.fromEPSG(2154), gdal.wkbMultiPolygon);
    layer.fields.add(new gdal.FieldDefn('code_cs', gdal.OFTString));
    layer.fields.add(new gdal.FieldDefn('code_us', gdal.OFTString));
    layer.fields.add(new gdal.FieldDefn('category', gdal.OFTInteger));
    layer.fields.add(new gdal.FieldDefn('artificialised', gdal.OFTInteger));
    const rows = (
      await conn.runAndReadAll(`SELECT c.code_cs, c.code_us, c.category, c.artificialised::INTEGER AS artificialised, ST_AsWKB(p.geom) AS wkb
                                FROM piece p JOIN piece_class c USING (piece_id) WHERE c.vintage = ${vintage} ORDER BY piece_id`)
    ).getRowObjectsJS();
    for (const row of rows) {
      const feature = new gdal.Feature(layer);
      feature.fields.set({ code_cs: row.code_cs, code_us: row.code_us, category: Number(row.category), artificialised: Number(row.artificialised) });
      feature.setGeometry(gdal.Geometry.fromWKB(Buffer.from(row.wkb as Uint8Array)));
      layer.features.add(feature);
    }
  } finally {
    out.close();
    conn.closeSync();
    instance.closeSync();
  }
}

function directoryStats(dir: string): { tiles: number; bytes: number } {
  const listing = execFileSync('find', [dir, '-name', '*.pbf', '-printf', '%s\\n'], { encoding: 'utf8' });
  const sizes = listing.split('\n').filter(Boolean).map(Number);
  return { tiles: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0) };
}

export async function benchTiles(options: { db?: string; cells?: number; minzoom?: number; maxzoom?: number; jobs?: number; keep?: boolean } = {}): Promise<TilesBenchResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-tiles-'));
  const minzoom = options.minzoom ?? 6;
  const maxzoom = options.maxzoom ?? 14;
  try {
    const db = path.join(dir, 'ocs.duckdb');
    if (options.db) execFileSync('cp', [options.db, db]);
    else await buildTilesTestDb(db, { cells: options.cells ?? 150, cellM: 25 });
    const { vintage, pieces } = await lastVintageOnly(db);

    let peakRssBytes = 0;
    const sampler = setInterval(() => (peakRssBytes = Math.max(peakRssBytes, processTreeRssBytes())), 100);
    const summary = await buildTiles({ db, out: path.join(dir, 'ocs.pmtiles'), minzoom, maxzoom, jobs: options.jobs ?? 2, logger: createLogger({ quiet: true }) }).finally(() =>
      clearInterval(sampler),
    );

    let gdalResult: TilesBenchResult['gdal'];
    try {
      const gpkg = path.join(dir, 'landuse.gpkg');
      await exportLanduse(db, vintage, gpkg);
      const started = performance.now();
      execFileSync('ogr2ogr', ['-f', 'MVT', path.join(dir, 'gdal-mvt'), gpkg, '-dsco', `MINZOOM=${minzoom}`, '-dsco', `MAXZOOM=${maxzoom}`, '-dsco', 'COMPRESS=YES', '-dsco', 'FORMAT=DIRECTORY'], {
        stdio: 'ignore',
      });
      gdalResult = { seconds: (performance.now() - started) / 1000, ...directoryStats(path.join(dir, 'gdal-mvt')) };
    } catch (error) {
      gdalResult = { error: error instanceof Error ? error.message : String(error) };
    }
    return {
      name: 'tiles',
      pieces,
      minzoom,
      maxzoom,
      tiles: summary.tiles,
      seconds: summary.seconds,
      tilesPerSecond: summary.tiles / summary.seconds,
      bytes: summary.bytes,
      largestTileBytes: summary.largestTile.bytes,
      peakRssBytes,
      gdal: gdalResult,
      ratio: 'seconds' in gdalResult ? gdalResult.seconds / summary.seconds : null,
    };
  } finally {
    if (!options.keep) rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await benchTiles({ db: process.argv[2] });
  console.log(
    `tiles: ${r.pieces.toLocaleString('en-US')} pieces, z${r.minzoom}–${r.maxzoom}: ${r.tiles} tiles in ${r.seconds.toFixed(1)} s (${r.tilesPerSecond.toFixed(1)} tiles/s), ` +
      `${(r.bytes / 1e6).toFixed(2)} MB, largest tile ${(r.largestTileBytes / 1e3).toFixed(1)} kB, peak RSS ${(r.peakRssBytes / 1e6).toFixed(0)} MB`,
  );
  if ('seconds' in r.gdal) {
    console.log(`gdal ogr2ogr -f MVT (same layer and zooms): ${r.gdal.tiles} tiles in ${r.gdal.seconds.toFixed(1)} s, ${(r.gdal.bytes / 1e6).toFixed(2)} MB; GDAL time / ocs-zan time = ${r.ratio!.toFixed(2)}`);
  } else console.log(`gdal: failed: ${r.gdal.error}`);
}
