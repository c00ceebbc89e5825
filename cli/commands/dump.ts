import type { Command } from 'commander';
import { dumpTable } from '../../pipeline/exports/dump.js';

/** `ocs-zan dump FILE.parquet|FILE.duckdb#table`: canonical JSON of one table on stdout. */
export function register(program: Command): void {
  const command = program
    .command('dump')
    .description('print a canonical JSON dump of a table (sorted rows, doubles rounded to 1e-6, geometry as WKT) for comparisons')
    .argument('<source>', 'FILE.parquet, or FILE.duckdb#table')
    .action(async (source: string) => {
      command.configureOutput().writeOut!(await dumpTable(source));
    });
}
