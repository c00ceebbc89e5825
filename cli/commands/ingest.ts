import { Command, Option } from 'commander';
import { ingest, multiDateSources, parseVintageSpec } from '../../pipeline/ingest.js';
import type { VintageSource } from '../../pipeline/ingest.js';
import { UserError } from '../../pipeline/errors.js';
import { createLogger } from '../../pipeline/log.js';
import type { StageManifest } from '../../pipeline/types.js';
import { collect, options } from '../options.js';

interface IngestFlags {
  vintage: string[];
  multiDate?: string;
  out: string;
  profile: string;
  csField?: string;
  usField?: string;
  field: string[];
  assumeCrs?: string;
  unknownCodes: 'error' | 'report';
  force: boolean;
  quiet: boolean;
}

/** `ocs-zan ingest`: stage OCS vintages (classified, repaired, EPSG:2154 FlatGeobuf) for the next stages. */
export function register(program: Command): void {
  program
    .command('ingest')
    .description('read OCS vintages from any OGR source, classify, repair and stage them as EPSG:2154 FlatGeobuf + manifest.json')
    .addOption(options.vintage())
    .addOption(
      new Option(
        '--multi-date <path>',
        'one layer (PATH[#layer]) holding a code column per vintage (code_cs_2019, code_us_2019…); with it, --vintage YEAR restricts the years',
      ),
    )
    .addOption(options.out('stage directory to write (vintage-<key>.fgb, manifest.json)'))
    .addOption(new Option('--profile <name|file>', "source nomenclature profile: 'ocsge', 'example-regional' or a YAML file").default('ocsge'))
    .addOption(new Option('--cs-field <name>', 'field holding the couverture code (default: the profile candidates, case-insensitive)'))
    .addOption(new Option('--us-field <name>', 'field holding the usage code'))
    .addOption(new Option('--field <role=name>', 'field for any profile role, e.g. code=CODE4 (repeatable)').argParser(collect).default([] as string[]))
    .addOption(new Option('--assume-crs <crs>', 'CRS of layers that declare none, e.g. EPSG:2154'))
    .addOption(
      new Option('--unknown-codes <mode>', "'error': stop on unknown or missing codes; 'report': stage them as unclassified (category 0)")
        .choices(['error', 'report'])
        .default('error'),
    )
    .addOption(options.force())
    .addOption(options.quiet())
    .action(async (flags: IngestFlags, command: Command) => {
      const io = { out: (text: string) => command.configureOutput().writeOut!(text) };
      const manifest = await ingest(sourcesFrom(flags), {
        stageDir: flags.out,
        profile: flags.profile,
        fields: fieldOverrides(flags),
        multiDate: flags.multiDate !== undefined,
        assumeCrs: flags.assumeCrs,
        unknownCodes: flags.unknownCodes,
        force: flags.force,
        logger: createLogger({ quiet: flags.quiet }),
      });
      io.out(summary(manifest));
    });
}

function sourcesFrom(flags: IngestFlags): VintageSource[] {
  if (flags.multiDate === undefined) return flags.vintage.map(parseVintageSpec);
  const years = flags.vintage.map((spec) => {
    if (!/^\d{4}$/.test(spec.trim())) throw new UserError(`bad vintage '${spec}' with --multi-date`, { remedy: 'give only years, e.g. --vintage 2019' });
    return Number(spec);
  });
  return multiDateSources(flags.multiDate, { profile: flags.profile, fields: fieldOverrides(flags), years });
}

function fieldOverrides(flags: IngestFlags): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const spec of flags.field) {
    const match = /^([^=]+)=(.+)$/.exec(spec);
    if (!match) throw new UserError(`bad --field '${spec}'`, { remedy: 'expected ROLE=FIELD, e.g. --field code=CODE4' });
    fields[match[1]!.trim()] = match[2]!.trim();
  }
  if (flags.csField) fields['cs'] = flags.csField;
  if (flags.usField) fields['us'] = flags.usField;
  return fields;
}

const ha = (m2: number): string => (m2 / 1e4).toFixed(2);

/** Per vintage: features, repairs, area, then a table of area (ha) per décret category. */
function summary(manifest: StageManifest): string {
  const lines: string[] = [];
  for (const vintage of manifest.vintages) {
    const repairs = Object.entries(vintage.repairs)
      .filter(([, n]) => n !== 0)
      .map(([name, n]) => `${name}=${Number.isInteger(n) ? n : n.toFixed(2)}`)
      .join(' ');
    lines.push(`vintage ${vintage.key}: ${vintage.features} polygons, ${ha(vintage.areaM2)} ha, repairs: ${repairs || 'none'} (${vintage.source.path}#${vintage.source.layer}, ${vintage.source.crs})`);
  }
  const categories = [...new Set(manifest.vintages.flatMap((v) => Object.keys(v.countsByCategory)))].sort((a, b) => Number(a) - Number(b));
  const header = ['category', ...manifest.vintages.map((v) => v.key)];
  const rows = categories.map((category) => [category, ...manifest.vintages.map((v) => ha(v.countsByCategory[category] ?? 0))]);
  rows.push(['total', ...manifest.vintages.map((v) => ha(v.areaM2))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const format = (row: string[]): string => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  lines.push('', 'area per décret 2023-1096 category (ha; 0 = unclassified)', format(header), ...rows.map(format));
  return `${lines.join('\n')}\n`;
}
