import { Option, InvalidArgumentError } from 'commander';
import { DEFAULT_ZOOMS, MAX_ZOOM } from '../pipeline/tiles/index.js';

/**
 * Option definitions shared by several commands, so each flag means the same everywhere
 * (mapshaper's options file). Commands add them with `command.addOption(options.force())`.
 */
export const options = {
  out: (description = 'output directory') => new Option('-o, --out <dir>', description).makeOptionMandatory(),
  force: () => new Option('--force', 'overwrite existing outputs').default(false),
  quiet: () => new Option('-q, --quiet', 'print nothing but errors').default(false),
  verbose: () => new Option('--verbose', 'also print the resolved options (command line, config file, defaults) first').default(false),
  jobs: () =>
    new Option('-j, --jobs <n>', 'parallel workers (results are identical whatever the number)')
      .argParser(positiveInteger)
      .default(2),
  queue: (description: string) => new Option('--queue <url>', `redis://HOST:PORT[/DB]: ${description}`),
  db: () => new Option('--db <file>', 'DuckDB file written by `ocs-zan run`').makeOptionMandatory(),
  vintage: () =>
    new Option(
      '--vintage <spec>',
      'one OCS vintage: YEAR=PATH[#layer], or DEP:YEAR=PATH[#layer] when vintages differ by département (repeatable)',
    )
      .argParser(collect)
      .default([] as string[]),
  minzoom: () => new Option('--minzoom <z>', 'lowest tile zoom').argParser(zoom).default(DEFAULT_ZOOMS.minzoom),
  maxzoom: () => new Option('--maxzoom <z>', 'highest tile zoom (full detail)').argParser(zoom).default(DEFAULT_ZOOMS.maxzoom),
};

export function zoom(value: string): number {
  const z = Number(value);
  if (!Number.isInteger(z) || z < 0 || z > MAX_ZOOM) throw new InvalidArgumentError(`expected a zoom level from 0 to ${MAX_ZOOM}`);
  return z;
}

export function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1');
  return n;
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
