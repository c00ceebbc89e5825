/** Worker process of the ingest stage: stages one vintage per task (see runInWorkers in ingest.ts). */
import { stageVintageTask, type VintageTask } from './index.js';
import { createLogger } from '../core/log.js';
import type { StagedVintage } from '../core/types.js';
import { serveTasks } from '../core/worker-pool.js';

serveTasks<never, VintageTask, StagedVintage>('worker', {
  task: (task) => stageVintageTask(task, createLogger({ quiet: task.options.quiet })),
});
