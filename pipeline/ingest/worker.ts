/** Worker process of the ingest stage: copies or checks one vintage per task (see stageInWorkers in index.ts). */
import { runIngestStep, type IngestStep } from './index.js';
import type { CopiedVintage } from './copy.js';
import { createLogger } from '../core/log.js';
import type { StagedVintage } from '../core/types.js';
import { serveTasks } from '../core/worker-pool.js';

serveTasks<never, IngestStep, CopiedVintage | StagedVintage>('worker', {
  task: (step) => runIngestStep(step, createLogger({ quiet: step.vintage.options.quiet })),
});
