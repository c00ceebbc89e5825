import { Command, Option } from 'commander';
import { createLogger } from '../../pipeline/core/log.js';
import { buildTiles } from '../../pipeline/tiles/index.js';
import { options } from '../options.js';

/** `ocs-zan tiles`: OUT/ocs.duckdb → PMTiles archive of land use, changes and territories. */
export function register(program: Command): void {
  program
    .command('tiles')
    .description('build vector tiles (PMTiles v3, gzip MVT) of land use per vintage, changes and territory indicators')
    .addOption(options.db())
    .addOption(new Option('-o, --out <file>', 'output archive, e.g. OUT/tiles/ocs.pmtiles').makeOptionMandatory())
    .addOption(options.minzoom())
    .addOption(options.maxzoom())
    .addOption(new Option('--format <format>', 'archive format').choices(['pmtiles']).default('pmtiles'))
    .addOption(options.jobs())
    .addOption(options.force())
    .addOption(options.quiet())
    .action(async (opts: { db: string; out: string; minzoom: number; maxzoom: number; format: 'pmtiles'; jobs: number; force: boolean; quiet: boolean }) => {
      await buildTiles({ ...opts, logger: createLogger({ quiet: opts.quiet }) });
    });
}
