import { Command } from 'commander';
import { ingestDeliveries, ingestVintages } from '../../pipeline/ingest/index.js';
import { createLogger } from '../../pipeline/core/log.js';
import { addIngestOptions, deliveriesFrom, ingestOptionsFrom, ingestSummary, sourcesFrom, type IngestFlags } from '../ingest-options.js';
import { options } from '../options.js';

interface Flags extends IngestFlags {
  out: string;
  jobs: number;
  force: boolean;
  quiet: boolean;
}

/** `ocs-zan ingest`: stage OCS vintages (classified, repaired, EPSG:2154 FlatGeobuf) for the next stages. */
export function register(program: Command): void {
  const command = program
    .command('ingest')
    .description('read OCS vintages from any OGR source, classify, repair and stage them as EPSG:2154 FlatGeobuf + manifest.json');
  addIngestOptions(command)
    .addOption(options.out('stage directory to write (vintage-<key>.fgb, manifest.json)'))
    .addOption(options.jobs())
    .addOption(options.force())
    .addOption(options.quiet())
    .action(async (flags: Flags, self: Command) => {
      const writeOut = self.configureOutput().writeOut!;
      const deliveries = await deliveriesFrom(flags, writeOut);
      if (deliveries === 'done') return;
      const options = {
        ...ingestOptionsFrom(flags),
        stageDir: flags.out,
        force: flags.force,
        jobs: flags.jobs,
        quiet: flags.quiet,
        logger: createLogger({ quiet: flags.quiet }),
      };
      const manifest = deliveries
        ? await ingestDeliveries(deliveries, sourcesFrom(flags), { ...options, ...(flags.cache !== undefined ? { cacheDir: flags.cache } : {}) })
        : await ingestVintages(sourcesFrom(flags), options);
      writeOut(ingestSummary(manifest));
    });
}
