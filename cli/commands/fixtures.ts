/** `ocs-zan fixtures generate|ign|dirty`: synthetic OCS GE vintages over real communes, IGN-style deliveries, and the faulty-input set. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { UserError } from '../../pipeline/core/errors.js';
import { createLogger } from '../../pipeline/core/log.js';
import { writeDirtyFixtures } from '../../fixtures/generator/dirty.js';
import { writeTrajectoryFixtures } from '../../fixtures/generator/cerema.js';
import { DEFAULT_VINTAGES, generateFixtures, type Density } from '../../fixtures/generator/generate.js';
import { generateIgnDeliveries } from '../../fixtures/generator/ign.js';
import type { CommuneSelection } from '../../fixtures/generator/communes.js';
import { options, positiveInteger } from '../options.js';

interface GenerateFlags {
  out: string;
  communes?: string;
  around?: string;
  count?: number;
  dep?: string;
  vintages: number[];
  seed: number;
  density: Density;
  communesDir?: string;
  force: boolean;
  quiet: boolean;
}

export function register(program: Command): void {
  const fixtures = program.command('fixtures').description('generate test fixtures (synthetic OCS GE vintages, faulty inputs)');
  fixtures
    .command('generate')
    .description('write synthetic OCS GE vintages over real Grand Est communes to one GeoPackage')
    .addOption(options.out('output GeoPackage (.gpkg)'))
    .addOption(new Option('--communes <codes>', 'comma-separated INSEE codes').conflicts(['around', 'dep']))
    .addOption(new Option('--around <insee>', 'a commune and its nearest neighbours (with --count)').conflicts(['dep']))
    .addOption(new Option('--count <n>', 'number of communes for --around, the centre included').argParser(positiveInteger).default(12))
    .addOption(new Option('--dep <code>', 'every commune of a Grand Est département (e.g. 67)'))
    .addOption(new Option('--vintages <years>', 'comma-separated vintage years').argParser(years).default(DEFAULT_VINTAGES))
    .addOption(new Option('--seed <n>', 'random seed (same seed, same output)').argParser(positiveInteger).default(1))
    .addOption(new Option('--density <level>', 'realistic (≥ 100 polygons/km², like OCS GE) or demo (about 5 times fewer)').choices(['realistic', 'demo']).default('realistic'))
    .addOption(new Option('--communes-dir <dir>', 'directory of communes-<dep>-*.geojson files (default: ../shared/data/communes-grand-est-2018)'))
    .addOption(options.force())
    .addOption(options.quiet())
    .action(async (flags: GenerateFlags) => {
      const result = await generateFixtures({
        out: flags.out,
        selection: selection(flags),
        vintages: flags.vintages,
        seed: flags.seed,
        density: flags.density,
        force: flags.force,
        communesDir: flags.communesDir,
        logger: createLogger({ quiet: flags.quiet }),
      });
      const polygons = Object.entries(result.polygons).map(([year, n]) => `${year}: ${n}`).join(', ');
      program.configureOutput().writeOut?.(`${result.path}: ${result.communes} communes, polygons ${polygons}, ${result.seconds.toFixed(1)} s\n`);
    });
  fixtures
    .command('ign')
    .description('write synthetic IGN OCS GE deliveries (7z archives named as IGN publishes them) for Grand Est départements, and communes.gpkg')
    .addOption(options.out('output directory'))
    .addOption(new Option('--dep <codes>', 'comma-separated départements; the first is written as GeoPackage, the others as Shapefiles').makeOptionMandatory())
    .addOption(new Option('--count <n>', 'communes per département').argParser(positiveInteger).default(2))
    .addOption(new Option('--seed <n>', 'random seed (same seed, same polygons)').argParser(positiveInteger).default(1))
    .addOption(new Option('--discrepancy <dep>', "drop the largest polygon of this département's zan_evol layer, so that the cross-check has a gap to flag"))
    .addOption(new Option('--communes-dir <dir>', 'directory of communes-<dep>-*.geojson files (default: ../shared/data/communes-grand-est-2018)'))
    .addOption(options.force())
    .addOption(options.quiet())
    .action(async (flags: { out: string; dep: string; count: number; seed: number; discrepancy?: string; communesDir?: string; force: boolean; quiet: boolean }) => {
      const result = await generateIgnDeliveries({
        out: flags.out,
        deps: flags.dep.split(',').map((d) => d.trim()).filter(Boolean),
        communesPerDep: flags.count,
        seed: flags.seed,
        ...(flags.discrepancy !== undefined ? { discrepancy: flags.discrepancy } : {}),
        ...(flags.communesDir !== undefined ? { communesDir: flags.communesDir } : {}),
        force: flags.force,
        logger: createLogger({ quiet: flags.quiet }),
      });
      const vintages = Object.entries(result.vintages).map(([key, v]) => `${key}: ${v.polygons} polygons (${v.critSeuil} crit_seuil)`).join(', ');
      program.configureOutput().writeOut?.(`${result.dir}: ${result.archives.length} archives; ${vintages}${result.discrepancyM2 > 0 ? `; planted gap ${result.discrepancyM2.toFixed(2)} m²` : ''}\n`);
    });
  fixtures
    .command('trajectory')
    .description('write a synthetic Cerema commune file (published CSV format) and planning documents for the communes of a layer')
    .addOption(new Option('--territories <path>', 'commune polygons PATH[#layer] with fields code and nom (e.g. fixtures/data/demo.gpkg#communes)').makeOptionMandatory())
    .addOption(options.out('output directory'))
    .addOption(new Option('--seed <n>', 'random seed (same seed, same output)').argParser(positiveInteger).default(1))
    .addOption(new Option('--last <year>', 'last year of the Cerema release').argParser(positiveInteger).default(2023))
    .action(async (flags: { territories: string; out: string; seed: number; last: number }) => {
      const result = await writeTrajectoryFixtures(flags);
      program.configureOutput().writeOut?.(`${result.cerema}, ${result.planningDocuments}: ${result.communes} communes\n`);
    });
  fixtures
    .command('dirty')
    .description('write the faulty-input set (one file per real-world fault) into a directory')
    .addOption(options.out('output directory'))
    .addOption(options.force())
    .action(async (flags: { out: string; force: boolean }) => {
      await writeDirtyFixtures(flags.out, { force: flags.force });
    });
}

function selection(flags: GenerateFlags): CommuneSelection {
  if (flags.communes) return { communes: flags.communes.split(',').map((c) => c.trim()).filter(Boolean) };
  if (flags.around) return { around: flags.around, count: flags.count ?? 12 };
  if (flags.dep) return { dep: flags.dep };
  throw new UserError('no communes selected', { remedy: 'pass --communes CODE,CODE, --around INSEE --count N or --dep 67' });
}

function years(value: string): number[] {
  const list = value.split(',').map((v) => Number(v.trim()));
  if (list.some((y) => !Number.isInteger(y) || y < 1900 || y > 2100)) throw new InvalidArgumentError('expected years such as 2010,2019,2022');
  return list;
}
