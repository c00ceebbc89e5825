/** `ocs-zan export`: every table of an `ocs.duckdb` as Parquet/GeoParquet and CSV. */
import { Option, type Command } from 'commander';
import { exportToDirectory } from '../../pipeline/exports/index.js';
import { createLogger } from '../../pipeline/core/log.js';
import { collect, options } from '../options.js';

interface ExportOptions {
  db: string;
  out: string;
  table: string[];
  force: boolean;
  quiet: boolean;
}

export function register(program: Command): void {
  program
    .command('export')
    .description('write every table of the database to OUT/parquet/<table>.parquet (GeoParquet, EPSG:2154) and OUT/csv/<table>.csv (geometry as WKT)')
    .addOption(options.db())
    .addOption(options.out('directory receiving parquet/ and csv/, e.g. OUT'))
    .addOption(new Option('--table <name>', 'only this table (repeatable)').argParser(collect).default([] as string[]))
    .addOption(options.force())
    .addOption(options.quiet())
    .action(async (opts: ExportOptions) => {
      await exportToDirectory({
        dbPath: opts.db,
        outDir: opts.out,
        tables: opts.table.length > 0 ? opts.table : undefined,
        force: opts.force,
        logger: createLogger({ quiet: opts.quiet }),
      });
    });
}
