/**
 * `npm run bench`: the whole pipeline on a generated whole-département dataset at real OCS GE density
 * (Bas-Rhin by default: ~516 communes, ≥ 100 polygons/km² per vintage), then the tile writer against
 * GDAL's own MVT writer on the same land-use layer.
 *
 * Prints per stage: wall time, throughput (input polygons/s) and peak memory of the process tree
 * (workers included). Goals (issue 3): the département run under 10 minutes with peak RSS under 4 GB;
 * portraits of all its communes under a minute. Timings are printed, never asserted.
 *
 *   npm run bench                      # Bas-Rhin (67)
 *   npm run bench -- --dep 68          # another département
 *   npm run bench -- --region          # all 10 Grand Est départements as 10 département shards (goal: 30 min, 4 GB)
 *   npm run bench -- --no-gdal         # skip the ogr2ogr comparison
 *
 * Generated datasets are cached in .cache/bench/, one GeoPackage per département (delete them to regenerate).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { generateFixtures } from '../fixtures/generator/generate.js';
import { createLogger, type Logger } from '../pipeline/core/log.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { runPipeline } from '../pipeline/run.js';
import { benchTiles } from './tiles.js';

/** Grand Est départements, in the order the region bench runs them. */
const GRAND_EST = ['08', '10', '51', '52', '54', '55', '57', '67', '68', '88'];

interface BenchFlags {
  dep: string;
  region: boolean;
  jobs: number;
  seed: number;
  maxzoom: number;
  gdal: boolean;
  quiet: boolean;
}

const mb = (bytes: number): string => (bytes / 2 ** 20).toFixed(0);

/** The generated GeoPackage of one département (three vintages and its communes), generated once. */
async function departementDataset(cache: string, dep: string, seed: number, vintages: number[], logger: Logger): Promise<string> {
  const dataset = path.join(cache, `dep-${dep}-seed-${seed}.gpkg`);
  if (existsSync(dataset)) {
    console.log(`reusing ${dataset}`);
    return dataset;
  }
  const generated = await generateFixtures({ out: dataset, selection: { dep }, vintages, seed, density: 'realistic', logger });
  console.log(
    `generated ${dataset}: ${generated.communes} communes, ${(generated.areaM2 / 1e6).toFixed(0)} km², ` +
      `${vintages.map((v) => `${v}: ${generated.polygons[v]} polygons`).join(', ')} in ${generated.seconds.toFixed(0)} s`,
  );
  return dataset;
}

/** One communes layer for the whole region: the départements' `communes` layers appended with ogr2ogr. */
function regionCommunes(cache: string, datasets: string[], seed: number): string {
  const file = path.join(cache, `region-communes-seed-${seed}.gpkg`);
  if (existsSync(file)) return file;
  const temp = `${file}.tmp-${process.pid}.gpkg`;
  rmSync(temp, { force: true });
  for (const dataset of datasets) execFileSync('ogr2ogr', ['-f', 'GPKG', '-append', '-nln', 'communes', temp, dataset, 'communes'], { stdio: 'inherit' });
  renameSync(temp, file);
  return file;
}

async function main(flags: BenchFlags): Promise<void> {
  const logger = createLogger({ quiet: flags.quiet });
  const cache = path.join(PROJECT_ROOT, '.cache', 'bench');
  mkdirSync(cache, { recursive: true });
  const vintages = [2010, 2019, 2022];
  const deps = flags.region ? GRAND_EST : [flags.dep];
  const datasets: string[] = [];
  for (const dep of deps) datasets.push(await departementDataset(cache, dep, flags.seed, vintages, logger));
  // The region is delivered per département, like IGN's OCS GE: each département's vintages go to its own shard.
  const sources = deps.flatMap((dep, i) => vintages.map((year) => ({ year, departement: flags.region ? dep : null, path: datasets[i]!, layer: `ocsge_${year}` })));
  const communes = flags.region ? regionCommunes(cache, datasets, flags.seed) : datasets[0]!;
  const label = flags.region ? 'Grand Est (10 départements)' : `département ${flags.dep}`;
  const goalSeconds = flags.region ? 1800 : 600;

  const out = path.join(cache, flags.region ? 'out-region' : `out-${flags.dep}`);
  const summary = await runPipeline({
    sources,
    ingest: { profile: 'ocsge' },
    territories: { path: `${communes}#communes` },
    out,
    jobs: flags.jobs,
    force: true,
    tiles: { minzoom: 6, maxzoom: flags.maxzoom },
    quiet: flags.quiet,
    logger,
  });

  const inputPolygons = summary.manifest.vintages.reduce((sum, v) => sum + v.features, 0);
  // Each year is staged once per département: the area of one year is the sum over its départements.
  const area = summary.manifest.vintages.reduce((sum, v) => sum + v.areaM2, 0) / vintages.length / 1e6;
  console.log(`\nocs-zan run, ${label}: ${summary.communes} communes, ${area.toFixed(0)} km², ${inputPolygons} input polygons (${vintages.length} vintages, ${(inputPolygons / vintages.length / area).toFixed(0)} per km² per vintage), --jobs ${flags.jobs}`);
  console.log('stage          seconds   polygons/s   peak RSS MB');
  for (const stage of summary.stages) {
    console.log(`${stage.name.padEnd(13)} ${stage.seconds.toFixed(1).padStart(8)} ${Math.round(inputPolygons / stage.seconds).toString().padStart(12)} ${mb(stage.peakRssBytes).padStart(13)}`);
  }
  const peak = Math.max(...summary.stages.map((s) => s.peakRssBytes));
  console.log(`total         ${summary.seconds.toFixed(1).padStart(8)} ${Math.round(inputPolygons / summary.seconds).toString().padStart(12)} ${mb(peak).padStart(13)}`);
  console.log(`goal: under ${goalSeconds} s and 4096 MB → ${summary.seconds < goalSeconds && peak < 4 * 2 ** 30 ? 'met' : 'NOT met'}`);
  console.log(`overlay: ${summary.overlay.pieces} pieces, ${summary.overlay.intersections} intersections, fast path ${JSON.stringify(summary.overlay.fastPath)}`);
  const portraits = summary.stages.find((s) => s.name === 'portraits');
  if (summary.portraits && portraits) console.log(`portraits: ${summary.portraits.portraits} territories in ${portraits.seconds.toFixed(1)} s (goal: under 60 s)`);
  if (summary.tiles) console.log(`tiles: ${summary.tiles.tiles} tiles, ${(summary.tiles.bytes / 2 ** 20).toFixed(1)} MB`);

  // GDAL's MVT writer over the whole region would take hours: the tiles ratio is measured on one département.
  if (flags.gdal && flags.region) console.log('\ntiles vs ogr2ogr -f MVT: measured on one département (npm run bench), not on the region');
  else if (flags.gdal) {
    const tiles = await benchTiles({ db: path.join(out, 'ocs.duckdb'), minzoom: 6, maxzoom: flags.maxzoom, jobs: flags.jobs });
    console.log(
      `\ntiles, last vintage's land use + territories, z6–${flags.maxzoom}: ${tiles.pieces} pieces → ${tiles.tiles} tiles in ${tiles.seconds.toFixed(1)} s ` +
        `(${tiles.tilesPerSecond.toFixed(0)} tiles/s), ${(tiles.bytes / 2 ** 20).toFixed(1)} MB, largest tile ${(tiles.largestTileBytes / 1024).toFixed(0)} KB, peak RSS ${mb(tiles.peakRssBytes)} MB`,
    );
    if ('error' in tiles.gdal) console.log(`ogr2ogr -f MVT: ${tiles.gdal.error}`);
    else console.log(`ogr2ogr -f MVT (same layer and zooms): ${tiles.gdal.tiles} tiles in ${tiles.gdal.seconds.toFixed(1)} s, ${(tiles.gdal.bytes / 2 ** 20).toFixed(1)} MB → ratio GDAL/ocs-zan ${tiles.ratio?.toFixed(2)}`);
  }
}

const program = new Command('bench')
  .addOption(new Option('--dep <code>', 'Grand Est département to generate').default('67'))
  .addOption(new Option('--region', 'all 10 Grand Est départements, one shard each').default(false))
  .addOption(new Option('--jobs <n>', 'parallel workers').argParser(Number).default(2))
  .addOption(new Option('--seed <n>', 'generator seed').argParser(Number).default(1))
  .addOption(new Option('--maxzoom <z>', 'highest tile zoom').argParser(Number).default(14))
  .addOption(new Option('--no-gdal', 'skip the ogr2ogr -f MVT comparison'))
  .addOption(new Option('-q, --quiet', 'no stage progress').default(false))
  .action(main);
await program.parseAsync(process.argv);
