import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { isVintageYearsPath } from '../../nomenclature/vintage-years.js';
import { UserError } from '../../pipeline/core/errors.js';
import { createLogger } from '../../pipeline/core/log.js';
import { splitLayer } from '../../pipeline/core/datasets.js';
import type { VintageSource } from '../../pipeline/ingest/source.js';
import { runPipeline, type RunSummary } from '../../pipeline/run.js';
import { addIngestOptions, deliveriesFrom, formatTable, ingestOptionsFrom, ingestSummary, sourcesFrom, type IngestFlags } from '../ingest-options.js';
import { options } from '../options.js';

interface RunFlags extends IngestFlags {
  territories: string;
  codeField: string;
  nameField: string;
  scot?: string;
  out: string;
  jobs: number;
  force: boolean;
  quiet: boolean;
  verbose: boolean;
  tiles: boolean;
  minzoom: number;
  maxzoom: number;
  portraits: boolean;
  vintageYears?: string;
  thresholds: boolean;
  cerema?: string;
  targets?: string;
  planningDocuments?: string;
  config?: string;
  queue?: string;
}

/** Options whose values are paths: in a config file they are relative to the file. */
const PATH_OPTIONS = new Set(['multiDate', 'territories', 'scot', 'out', 'ocsge', 'cache', 'cerema', 'targets', 'planningDocuments']);

/**
 * Path options as written in the config file (relative to it), by option name. The run opens the
 * resolved paths but records these, so that outputs do not change when the inputs move with the file.
 */
const writtenInConfig = new WeakMap<Command, Record<string, unknown>>();

/** `ocs-zan run`: ingest → territories → overlay → indicators → portraits → exports → tiles in one command. */
export function register(program: Command): void {
  const command = program
    .command('run')
    .description('run the whole pipeline: OCS vintages + commune polygons → OUT/ocs.duckdb, Parquet, CSV, portraits, tiles')
    .addOption(new Option('--config <file>', 'YAML file of options (keys are the long option names, with - or _, e.g. vintage: [2019=a.gpkg], territories: c.geojson, vintage_years: ocs-grand-est); flags override it; paths are relative to the file'));
  addIngestOptions(command)
    .addOption(new Option('--territories <path>', 'commune polygons PATH[#layer] (any OGR source; reprojected to EPSG:2154)'))
    .addOption(new Option('--code-field <name>', 'commune INSEE code field').default('code'))
    .addOption(new Option('--name-field <name>', 'commune name field').default('nom'))
    .addOption(new Option('--scot <csv>', 'SCoT membership CSV: commune_code,scot_code,scot_name'))
    .addOption(
      new Option(
        '--vintage-years <table>',
        "real year behind each vintage label, for years and annual rates: 'ocs-grand-est' (built-in, likely years to check) or a CSV departement,vintage,year or commune_code,vintage,year",
      ),
    )
    .addOption(new Option('--cerema <path>', 'Cerema commune file obs_artif_conso_com_2009_<last> (CSV ; or , or zipped shapefile): the trajectory uses it as the legal reference'))
    .addOption(new Option('--targets <csv>', 'reduction targets per territory: level,code,reduction_target[,document] (0.5447 or 54.47 %); others inherit from the smallest enclosing territory, else 50 %'))
    .addOption(new Option('--planning-documents <csv>', 'commune_code,document (PLU, PLUi, CC, …; RNU is not eligible): communes whose document opens the 1 ha garantie communale'))
    .addOption(new Option('-o, --out <dir>', 'output directory (written atomically)'))
    .addOption(options.jobs())
    .addOption(options.queue('compute the shards (ingest + overlay per département) on `ocs-zan worker` processes through this Redis; needs --cache on a folder every worker sees'))
    .addOption(new Option('--no-tiles', 'skip the vector tiles'))
    .addOption(options.minzoom())
    .addOption(options.maxzoom())
    .addOption(new Option('--no-portraits', 'skip the portrait pages'))
    .addOption(new Option('--no-thresholds', 'do not apply the décret 2023-1096 threshold rules (2,500 m² patches, 50 m² buildings) to vintages classified by the CS × US matrix'))
    .addOption(options.force())
    .addOption(options.quiet())
    .addOption(options.verbose())
    .addHelpText(
      'after',
      `
Example:
  ocs-zan run --vintage 2010=ocs.gpkg#ocsge_2010 --vintage 2019=ocs.gpkg#ocsge_2019 --vintage 2022=ocs.gpkg#ocsge_2022 \\
    --territories communes.geojson --out OUT
  ocs-zan run --ocsge downloads/ --territories communes.geojson --out OUT   # IGN OCS GE archives as downloaded
  ocs-zan run --multi-date grand-est.gpkg#ocs --vintage-years ocs-grand-est --territories communes.geojson --out OUT
  ocs-zan run --config run.yml --cache /nfs/ocs-zan --queue redis://10.0.0.5:6379 --out OUT   # shards computed by ocs-zan worker processes

Exit codes: 0 success; 1 internal error (stack printed); 2 user error (bad input, flag, code or CRS).`,
    )
    .hook('preAction', (self) => applyConfigFile(self))
    .action(async (flags: RunFlags, self: Command) => {
      const deliveries = await deliveriesFrom(flags, self.configureOutput().writeOut!);
      if (deliveries === 'done') return;
      if (!flags.territories) throw new UserError('no commune polygons given', { remedy: 'pass --territories PATH[#layer] or set territories: in --config' });
      if (!flags.out) throw new UserError('no output directory given', { remedy: 'pass --out DIR or set out: in --config' });
      if (flags.minzoom > flags.maxzoom) throw new UserError(`--minzoom ${flags.minzoom} is above --maxzoom ${flags.maxzoom}`);
      const logger = createLogger({ quiet: flags.quiet });
      const written = writtenInConfig.get(self) ?? {};
      const resolved = { ...resolvedOptions(self), ...written };
      if (flags.verbose) logger.info(`options: ${JSON.stringify(resolved)}`);
      const summary = await runPipeline({
        sources: recordWrittenPaths(sourcesFrom(flags), written, flags.multiDate !== undefined),
        ...(deliveries ? { deliveries: { scan: deliveries } } : {}),
        ...(flags.cache !== undefined ? { cacheDir: flags.cache } : {}),
        ...(flags.queue !== undefined ? { queue: flags.queue } : {}),
        ingest: ingestOptionsFrom(flags),
        territories: { path: flags.territories, codeField: flags.codeField, nameField: flags.nameField, ...(flags.scot ? { scotCsv: flags.scot } : {}) },
        writtenPaths: Object.fromEntries(Object.entries(written).filter((entry): entry is [string, string] => typeof entry[1] === 'string')),
        out: flags.out,
        jobs: flags.jobs,
        force: flags.force,
        quiet: flags.quiet,
        tiles: flags.tiles ? { minzoom: flags.minzoom, maxzoom: flags.maxzoom } : false,
        portraits: flags.portraits,
        ...(flags.vintageYears !== undefined ? { vintageYears: flags.vintageYears } : {}),
        thresholds: flags.thresholds,
        ...(flags.cerema ? { cerema: flags.cerema } : {}),
        ...(flags.targets ? { targets: flags.targets } : {}),
        ...(flags.planningDocuments ? { planningDocuments: flags.planningDocuments } : {}),
        options: resolved,
        logger,
      });
      if (!flags.quiet) self.configureOutput().writeOut!(runReport(summary));
    });
}

/** Fills every option not given on the command line from the --config YAML file. */
function applyConfigFile(command: Command): void {
  const file = command.getOptionValue('config') as string | undefined;
  if (!file) return;
  if (!existsSync(file)) throw new UserError('config file not found', { file });
  let config: unknown;
  try {
    config = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UserError(`not valid YAML: ${(error as Error).message.split('\n')[0]}`, { file });
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw new UserError('expected a map of option names to values', { file });
  const base = path.dirname(path.resolve(file));
  const written: Record<string, unknown> = {};
  writtenInConfig.set(command, written);
  for (const [given, raw] of Object.entries(config as Record<string, unknown>)) {
    // YAML keys may spell the dashes of option names as underscores: vintage_years.
    const key = given.replace(/_/g, '-');
    const option = command.options.find((o) => o.long === `--${key}` || o.long === `--no-${key}`);
    if (!option || key === 'config') {
      throw new UserError(`unknown option '${given}'`, { file, remedy: 'keys are the long option names of `ocs-zan run --help`, without the dashes' });
    }
    const name = option.attributeName();
    if (command.getOptionValueSource(name) === 'cli') continue;
    let value: unknown;
    if (name === 'vintage') {
      written[name] = (Array.isArray(raw) ? raw : [raw]).map(String);
      value = (written[name] as string[]).map((spec) => resolveVintagePath(spec, base));
    } else if (name === 'field') value = (Array.isArray(raw) ? raw : [raw]).map(String);
    else if (PATH_OPTIONS.has(name) || (name === 'vintageYears' && isVintageYearsPath(String(raw)))) {
      written[name] = String(raw);
      value = path.resolve(base, String(raw));
    } else if (option.parseArg && typeof raw !== 'boolean') value = parseConfigValue(option, key, String(raw), file);
    else value = raw;
    command.setOptionValueWithSource(name, value, 'config');
  }
}

/** A config value through its option's parser; the parser's complaint becomes a user error naming the file and key. */
function parseConfigValue(option: Option, key: string, raw: string, file: string): unknown {
  try {
    return option.parseArg!(raw, undefined as never);
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw new UserError(`bad value '${raw}' for ${key}: ${error.message}`, { file });
    throw error;
  }
}

/**
 * Each source with the dataset path written in the config file, when its vintages or multi-date layer
 * came from there (the `#layer` suffix is left out, as in the resolved source).
 */
function recordWrittenPaths(sources: VintageSource[], written: Record<string, unknown>, multiDateGiven: boolean): VintageSource[] {
  const specs = multiDateGiven ? undefined : (written['vintage'] as string[] | undefined);
  const multiDate = written['multiDate'] as string | undefined;
  return sources.map((source, i) => {
    const spec = multiDate ?? (specs ? specs[i]!.slice(specs[i]!.indexOf('=') + 1) : undefined);
    if (spec === undefined) return source;
    const layer = source.layer ?? splitLayer(source.path).layer;
    return { ...source, origin: layer !== undefined && spec.endsWith(`#${layer}`) ? spec.slice(0, -layer.length - 1) : spec };
  });
}

/** `YEAR=PATH[#layer]` with PATH resolved against the config file's folder. */
function resolveVintagePath(spec: string, base: string): string {
  const match = /^([^=]+=)(.+)$/.exec(spec);
  return match ? `${match[1]}${path.resolve(base, match[2]!)}` : spec;
}

/** Every option with its value and where it came from (cli, config, default), recorded in run_metadata. */
function resolvedOptions(command: Command): Record<string, unknown> {
  const resolved: Record<string, unknown> = {};
  for (const option of command.options) {
    const name = option.attributeName();
    const value = command.getOptionValue(name);
    if (value !== undefined) resolved[name] = value;
  }
  return resolved;
}

const ha = (m2: number): string => (m2 / 1e4).toFixed(2);

function runReport(summary: RunSummary): string {
  const stats = summary.overlay;
  const lines = [
    ingestSummary(summary.manifest).trimEnd(),
    '',
    `overlay: ${summary.communes} communes, ${stats.polygonsRead} polygons read, ${stats.pieces} pieces, ${stats.intersections} intersections, fast path ${stats.fastPath.identicalGeometry + stats.fastPath.polygonInsidePiece + stats.fastPath.pieceInsidePolygon}`,
    ...stats.vintages.map((v) => `  vintage ${v.key}: covered ${ha(v.covered_m2)} ha, uncovered ${ha(v.uncovered_m2)} ha, outside communes ${ha(v.outside_communes_m2)} ha`),
    ...ignGapLines(summary),
    ...(summary.cerema
      ? [`cerema: ${summary.cerema.communes_in_file} communes in the file, years ${summary.cerema.years.join('–')}; ${summary.cerema.missing_communes.count} territory communes missing, ${summary.cerema.outside_communes.count} outside the territories, ${summary.cerema.destination_mismatches.count} destination mismatches`]
      : []),
    '',
    ...formatTable(
      ['stage', 'seconds', 'peak MB'],
      summary.stages.map((s) => [s.name, s.seconds.toFixed(1), String(Math.round(s.peakRssBytes / 2 ** 20))]),
    ),
    `total ${summary.seconds.toFixed(1)} s`,
    ...summary.warnings.map((line) => `warning: ${line}`),
    '',
    `database   ${path.join(summary.out, 'ocs.duckdb')} (${Object.keys(summary.tables).length} tables)`,
    `parquet    ${path.join(summary.out, 'parquet')}/`,
    `csv        ${path.join(summary.out, 'csv')}/`,
  ];
  if (summary.portraits) lines.push(`portraits  ${summary.portraits.index} (${summary.portraits.portraits} territories)`);
  if (summary.vintageYears) {
    const { table, fallbacks } = summary.vintageYears;
    lines.push(`years      real years from ${table}${fallbacks.length ? `; ${fallbacks.length} label(s) used as years:` : ''}`, ...fallbacks.map((line) => `  ${line}`));
  }
  if (summary.tiles) lines.push(`tiles      ${summary.tiles.path} (${summary.tiles.tiles} tiles, ${(summary.tiles.bytes / 2 ** 20).toFixed(1)} MB); view with: ocs-zan serve ${summary.out}`);
  return `${lines.join('\n')}\n`;
}

/** The IGN cross-check in the run summary: its largest commune gaps, or that IGN and we agree. */
function ignGapLines(summary: RunSummary): string[] {
  if (!summary.tables['check_ign_difference']) return [];
  if (summary.ignGaps.length === 0) return ['', 'IGN cross-check (check_ign_difference): every commune agrees with IGN\'s difference layers to the cm²'];
  return [
    '',
    'IGN cross-check (check_ign_difference): largest gaps, ours − IGN, in m²',
    ...formatTable(
      ['commune', 'period', 'measure', 'ours', 'IGN', 'gap'],
      summary.ignGaps.map((g) => [g.code, g.period, g.measure, g.ours_m2.toFixed(2), g.ign_m2.toFixed(2), g.diff_m2.toFixed(2)]),
    ).map((line) => `  ${line}`),
  ];
}
