import { Command, Option } from 'commander';
import { inStage, UserError } from '../../pipeline/core/errors.js';
import { DEFAULT_NOMENCLATURE_DIR, loadNomenclature } from '../../nomenclature/loader.js';
import { checkNomenclature } from '../../nomenclature/spec.js';

/** `ocs-zan nomenclature check|show`: validate the tables and show how a CS × US pair is classified. */
export function register(program: Command): void {
  const nomenclature = program
    .command('nomenclature')
    .description('check the nomenclature tables and profiles, or show how a CS × US pair is classified');
  const dirOption = (): Option => new Option('--dir <dir>', 'nomenclature folder').default(DEFAULT_NOMENCLATURE_DIR, 'the shipped tables');

  nomenclature
    .command('check')
    .description('load and cross-check every table and profile, replay every .spec.yml example (exit 2 naming the row on failure)')
    .addOption(dirOption())
    .action(async (opts: { dir: string }, command: Command) => {
      const report = await inStage('nomenclature', undefined, async () => checkNomenclature(opts.dir));
      const { nomenclature: loaded } = report;
      const cases = report.specs.reduce((sum, spec) => sum + spec.cases, 0);
      const lines = [
        `nomenclature ${loaded.version} (${loaded.dir})`,
        ...Object.entries(loaded.tableVersions).map(([file, version]) => `  ${file}: ${version}`),
        `pairs: ${loaded.leafCs.length} CS × ${loaded.leafUs.length} US = ${loaded.leafCs.length * loaded.leafUs.length} classified`,
        `profiles: ${report.profiles.map((profile) => `${profile.name} (${profile.version})`).join(', ')}`,
        `examples: ${cases} cases in ${report.specs.length} spec files`,
        'ok',
      ];
      write(command, lines);
    });

  nomenclature
    .command('show')
    .description('print the classes of one CS × US pair (codes in any delivered spelling: CS2.2.1, cs221, 2.2.1)')
    .argument('<cs>', 'couverture code')
    .argument('<us>', 'usage code')
    .addOption(dirOption())
    .addOption(new Option('--official <flag>', 'official artif flag of the IGN ARTIFICIALISATION product').choices(['yes', 'no']))
    .action(async (codeCs: string, codeUs: string, opts: { dir: string; official?: 'yes' | 'no' }, command: Command) => {
      const loaded = await inStage('nomenclature', undefined, async () => loadNomenclature(opts.dir));
      const classes = loaded.classify(codeCs, codeUs, opts.official === undefined ? null : opts.official === 'yes');
      if (!classes) {
        throw new UserError(`unknown CS × US pair ${codeCs} × ${codeUs}`, {
          remedy: `use leaf codes of ${loaded.dir}/ocsge-couverture.csv and ocsge-usage.csv`,
        });
      }
      const category = loaded.categories[classes.category - 1]!;
      const yes = (flag: boolean): string => (flag ? 'yes' : 'no');
      write(command, [
        `${classes.codeCs} × ${classes.codeUs} (${loaded.version})`,
        `couverture: ${loaded.couverture.get(classes.codeCs)!.label}`,
        `usage: ${loaded.usage.get(classes.codeUs)!.label}`,
        `category: ${classes.category} ${category.label}`,
        `artificialised: ${yes(classes.artificialised)} (${classes.artifRule})`,
        `sealed: ${yes(classes.sealed)}`,
        `enaf: ${classes.enaf}`,
        `destination: ${classes.destination ?? ''}`,
      ]);
    });
}

/** Writes to the CLI's stdout (the io given to runCli, inherited from the program). */
function write(command: Command, lines: string[]): void {
  command.configureOutput().writeOut!(`${lines.join('\n')}\n`);
}
