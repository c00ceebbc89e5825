/** Shard child process (computeShardInChild in shard.ts): one shard per task. */
import { rootCause } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { serveTasks } from '../core/worker-pool.js';
import { computeShard, type ShardChildTask, type ShardResult } from './shard.js';

serveTasks<never, ShardChildTask, ShardResult>('worker', {
  task: async ({ task, options }) => {
    try {
      return await computeShard(task, { ...options, logger: createLogger({ quiet: options.quiet }) });
    } catch (error) {
      // The parent wraps the error with the shard again; a user error crosses the process boundary only as itself.
      throw rootCause(error);
    }
  },
});
