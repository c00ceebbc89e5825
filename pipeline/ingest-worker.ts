/** Worker process of the ingest stage: stages one vintage per task (see runInWorkers in ingest.ts). */
import { stageVintageTask, type VintageTask } from './ingest.js';
import { createLogger } from './log.js';
import type { StagedVintage } from './types.js';
import { serveTasks } from './worker-pool.js';

serveTasks<never, VintageTask, StagedVintage>('ingest-worker', {
  task: (task) => stageVintageTask(task, createLogger({ quiet: task.options.quiet })),
});
