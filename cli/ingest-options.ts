import { Command, Option } from 'commander';
import { multiDateSources, parseVintageSpec, type IngestOptions, type VintageSource } from '../pipeline/ingest/index.js';
import { assertUsable, deliveryListing, scanDeliveries, type DeliveryScan } from '../pipeline/ingest/deliveries.js';
import { UserError } from '../pipeline/core/errors.js';
import type { StageManifest } from '../pipeline/core/types.js';
import { collect, options } from './options.js';

/** The flags that choose and read OCS vintages, shared by `ocs-zan ingest` and `ocs-zan run`. */
export interface IngestFlags {
  vintage: string[];
  multiDate?: string;
  profile: string;
  csField?: string;
  usField?: string;
  field: string[];
  assumeCrs?: string;
  unknownCodes: 'error' | 'report';
  ocsge?: string;
  cache?: string;
  dryRun: boolean;
}

export function addIngestOptions(command: Command): Command {
  return command
    .addOption(options.vintage())
    .addOption(
      new Option(
        '--multi-date <path>',
        'one layer (PATH[#layer]) holding a code column per vintage (code_cs_2019, code_us_2019…); with it, --vintage YEAR restricts the years',
      ),
    )
    .addOption(
      new Option(
        '--ocsge <dir>',
        'folder of IGN OCS GE deliveries as downloaded (7z archives or extracted folders, any nesting, any number of départements); département, millésime and product come from their names',
      ).conflicts('multiDate'),
    )
    .addOption(new Option('--cache <dir>', "extract --ocsge archives into this folder, once per archive (keyed by its sha256), instead of the run's temporary folder; run also keeps its shards in DIR/shards/ and reuses those whose inputs did not change"))
    .addOption(new Option('--dry-run', 'with --ocsge: list what was found, what will be used and what is ignored and why, then stop').default(false))
    .addOption(new Option('--profile <name|file>', "source nomenclature profile: 'ocsge', 'example-regional' or a YAML file").default('ocsge'))
    .addOption(new Option('--cs-field <name>', 'field holding the couverture code (default: the profile candidates, case-insensitive)'))
    .addOption(new Option('--us-field <name>', 'field holding the usage code'))
    .addOption(new Option('--field <role=name>', 'field for any profile role, e.g. code=CODE4 (repeatable)').argParser(collect).default([] as string[]))
    .addOption(new Option('--assume-crs <crs>', 'CRS of layers that declare none, e.g. EPSG:2154'))
    .addOption(
      new Option('--unknown-codes <mode>', "'error': stop on unknown or missing codes; 'report': stage them as unclassified (category 0)")
        .choices(['error', 'report'])
        .default('error'),
    );
}

export function sourcesFrom(flags: IngestFlags): VintageSource[] {
  if (flags.multiDate === undefined) return flags.vintage.map(parseVintageSpec);
  const years = flags.vintage.map((spec) => {
    if (!/^\d{4}$/.test(spec.trim())) throw new UserError(`bad vintage '${spec}' with --multi-date`, { remedy: 'give only years, e.g. --vintage 2019' });
    return Number(spec);
  });
  return multiDateSources(flags.multiDate, { profile: flags.profile, fields: fieldOverrides(flags), years });
}

/** The deliveries of --ocsge, or null; with --dry-run, prints their listing and returns 'done'. */
export async function deliveriesFrom(flags: IngestFlags, writeOut: (text: string) => void): Promise<DeliveryScan | null | 'done'> {
  if (flags.ocsge === undefined) {
    if (flags.dryRun) throw new UserError('--dry-run lists the deliveries of --ocsge', { remedy: 'pass --ocsge DIR' });
    return null;
  }
  const scan = await scanDeliveries(flags.ocsge, flags.cache !== undefined ? { skip: flags.cache } : {});
  if (!flags.dryRun) return scan;
  writeOut(deliveryListing(scan));
  assertUsable(scan);
  return 'done';
}

export function fieldOverrides(flags: IngestFlags): Record<string, string> {
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

/** Ingest options (all but the stage directory, force and logger) from the flags. */
export function ingestOptionsFrom(flags: IngestFlags): Omit<IngestOptions, 'stageDir' | 'force' | 'logger' | 'jobs' | 'quiet'> {
  return {
    profile: flags.profile,
    fields: fieldOverrides(flags),
    multiDate: flags.multiDate !== undefined,
    ...(flags.assumeCrs !== undefined ? { assumeCrs: flags.assumeCrs } : {}),
    unknownCodes: flags.unknownCodes,
  };
}

const ha = (m2: number): string => (m2 / 1e4).toFixed(2);

/** Per vintage: features, repairs, area, then a table of area (ha) per décret category. */
export function ingestSummary(manifest: StageManifest): string {
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
  lines.push('', 'area per décret 2023-1096 category (ha; 0 = unclassified)', ...formatTable(header, rows));
  return `${lines.join('\n')}\n`;
}

/** Plain text table: first column left-aligned, the others right-aligned. */
export function formatTable(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const format = (row: string[]): string => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ');
  return [format(header), ...rows.map(format)];
}
