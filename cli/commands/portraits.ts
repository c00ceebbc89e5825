/** `ocs-zan portraits`: territory portraits (HTML, Markdown, portrait tables) from an `ocs.duckdb`. */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { createLogger } from '../../pipeline/core/log.js';
import { buildPortraits } from '../../pipeline/portraits/index.js';
import { collect, options } from '../options.js';
import { TERRITORY_LEVELS_TOP_DOWN, type TerritoryLevel } from '../../pipeline/core/territory-levels.js';

interface PortraitsOptions {
  db: string;
  out: string;
  level: TerritoryLevel[];
  code: string[];
  force: boolean;
  quiet: boolean;
}

function collectLevel(value: string, previous: TerritoryLevel[]): TerritoryLevel[] {
  if (!(TERRITORY_LEVELS_TOP_DOWN as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${TERRITORY_LEVELS_TOP_DOWN.join(', ')}`);
  return [...previous, value as TerritoryLevel];
}

export function register(program: Command): void {
  program
    .command('portraits')
    .description('write one HTML and Markdown portrait per territory, an index and the portrait_territory table')
    .addOption(options.db())
    .addOption(options.out('portraits directory, e.g. OUT/portraits'))
    .addOption(new Option('--level <level>', `only this level: ${TERRITORY_LEVELS_TOP_DOWN.join(', ')} (repeatable)`).argParser(collectLevel).default([] as TerritoryLevel[]))
    .addOption(new Option('--code <code>', 'only this territory code (repeatable)').argParser(collect).default([] as string[]))
    .addOption(options.force())
    .addOption(options.quiet())
    .action(async (opts: PortraitsOptions) => {
      await buildPortraits({
        db: opts.db,
        out: opts.out,
        levels: opts.level.length > 0 ? opts.level : undefined,
        codes: opts.code.length > 0 ? opts.code : undefined,
        force: opts.force,
        logger: createLogger({ quiet: opts.quiet }),
      });
    });
}
