/** `ocs-zan portraits`: territory portraits (HTML, Markdown, portrait tables) from an `ocs.duckdb`. */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { createLogger } from '../../pipeline/core/log.js';
import { type Level, LEVELS } from '../../pipeline/portraits/dataset.js';
import { buildPortraits } from '../../pipeline/portraits/index.js';
import { collect, options } from '../options.js';

interface PortraitsOptions {
  db: string;
  out: string;
  level: Level[];
  code: string[];
  force: boolean;
  quiet: boolean;
}

function collectLevel(value: string, previous: Level[]): Level[] {
  if (!(LEVELS as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${LEVELS.join(', ')}`);
  return [...previous, value as Level];
}

export function register(program: Command): void {
  program
    .command('portraits')
    .description('write one HTML and Markdown portrait per territory, an index and the portrait_territory table')
    .addOption(options.db())
    .addOption(options.out('portraits directory, e.g. OUT/portraits'))
    .addOption(new Option('--level <level>', `only this level: ${LEVELS.join(', ')} (repeatable)`).argParser(collectLevel).default([] as Level[]))
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
