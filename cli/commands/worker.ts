import path from 'node:path';
import { Command, Option } from 'commander';
import { createLogger } from '../../pipeline/core/log.js';
import { serveShardJobs } from '../../pipeline/queue/index.js';
import { options } from '../options.js';

/** `ocs-zan worker --queue URL`: computes the shards `ocs-zan run --queue` enqueues, until SIGTERM or SIGINT. */
export function register(program: Command): void {
  program
    .command('worker')
    .description('compute shards (ingest + overlay of one département) enqueued by `ocs-zan run --queue`, until SIGTERM or Ctrl-C (the current shard is finished first)')
    .addOption(options.queue('the Redis of the runs to work for').makeOptionMandatory())
    .addOption(options.jobs())
    .addOption(new Option('--cache <dir>', "the runs' --cache folder as this machine mounts it, when at another path (shards go to DIR/shards)"))
    .addOption(options.quiet())
    .addHelpText(
      'after',
      `
Jobs carry paths (inputs, cache): every machine must see them at the same paths (NFS or identical mounts). See docs/SCALE-OUT.md.

Example:
  ocs-zan worker --queue redis://10.0.0.5:6379 --jobs 4

Exit codes: 0 stopped by a signal; 1 internal error; 2 user error (Redis unreachable, bad address).`,
    )
    .action(async (opts: { queue: string; jobs: number; cache?: string; quiet: boolean }) => {
      const stop = new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await serveShardJobs({ url: opts.queue, jobs: opts.jobs, ...(opts.cache !== undefined ? { cacheDir: path.join(opts.cache, 'shards') } : {}), quiet: opts.quiet, logger: createLogger({ quiet: opts.quiet }), stop });
    });
}
