import { fork, type ChildProcess } from 'node:child_process';
import { inStage, UserError } from './errors.js';
import { childModule } from './paths.js';

/**
 * Worker processes for the CPU-bound stages (ingest, overlay, tiles). GDAL and DuckDB are native and not
 * shareable across worker threads, so each worker is a forked process that opens its own datasets; tasks
 * go to whichever worker frees up first, and results come back in task order, so outputs do not depend on
 * the number of workers. A worker's user error stays a user error in the parent.
 *
 * Parent: `await runInWorkers({ module: import.meta.url, basename: 'worker', jobs, tasks, stage, shard })`.
 * Child (the worker module): `serveTasks('worker', { task: (t) => overlayPartition(t) })`.
 */

type Request<Init, Task> = { type: 'init'; init: Init } | { type: 'task'; task: Task } | { type: 'close' };
type Reply<Result> =
  | { type: 'ok'; result: Result }
  | { type: 'error'; message: string; stack?: string; user?: UserError['context'] };

const flag = (basename: string): string => `--ocs-zan-worker=${basename}`;

export interface RunInWorkersInput<Init, Task, Result> {
  /** `import.meta.url` of a module beside the worker module. */
  module: string;
  /** The worker module's file name without extension, e.g. 'worker' (overlay/worker.ts). */
  basename: string;
  jobs: number;
  tasks: readonly Task[];
  /** Per-worker initialisation (worker index → message), sent before its first task. */
  init?: (worker: number) => Init;
  /** Stage and shard names wrapped around a task's errors: StageError('overlay', 'partition-3', …). */
  stage: string;
  shard: (task: Task, index: number) => string;
  onResult?: (result: Result, index: number) => void;
  /** Starts the workers in their own process group, so that a Ctrl-C meant for this process does not reach them. */
  detached?: boolean;
  /** Node flags for the worker processes, e.g. a V8 heap setting suited to the stage. */
  nodeFlags?: string[];
  /**
   * A task that needs the result of an earlier one (its index in `tasks`, else null) is sent once that one is done,
   * as `withResult(task, result)`: a stage split in two phases lets the workers take the second phase of one item
   * while the first phase of another still runs.
   */
  dependency?: { of: (task: Task, index: number) => number | null; withResult: (task: Task, result: Result) => Task };
}

/** A promise settled from outside (Node 20 has no Promise.withResolvers). */
function settleable(): { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void } {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Awaited only by dependent tasks: a failure nobody waits for is reported by Promise.all below, not as unhandled.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

export async function runInWorkers<Init, Task, Result>(input: RunInWorkersInput<Init, Task, Result>): Promise<Result[]> {
  const results: Result[] = new Array(input.tasks.length);
  const workers = Array.from({ length: Math.max(1, Math.min(input.jobs, input.tasks.length)) }, () =>
    startWorker<Init, Task, Result>(input.module, input.basename, input.detached === true, input.nodeFlags ?? []),
  );
  const done = input.tasks.map(() => settleable());
  let next = 0;
  try {
    await Promise.all(
      workers.map(async (worker, w) => {
        if (input.init) await inStage(input.stage, `worker-${w}`, () => worker.request({ type: 'init', init: input.init!(w) }));
        while (next < input.tasks.length) {
          const index = next++;
          let task: Task = input.tasks[index]!;
          const needed = input.dependency?.of(task, index) ?? null;
          if (needed !== null) {
            if (!(needed >= 0 && needed < index)) throw new Error(`task ${index} depends on task ${needed}, which does not come before it`);
            await done[needed]!.promise;
            task = input.dependency!.withResult(task, results[needed]!);
          }
          try {
            results[index] = (await inStage(input.stage, input.shard(task, index), () => worker.request({ type: 'task', task }))) as Result;
          } catch (error) {
            done[index]!.reject(error);
            throw error;
          }
          done[index]!.resolve();
          input.onResult?.(results[index]!, index);
        }
        worker.child.send({ type: 'close' } satisfies Request<Init, Task>);
        // Let it close its datasets and exit by itself (a profiled worker writes its profile then).
        await worker.exited;
      }),
    );
  } finally {
    // After a failure the other workers are stopped, and awaited so none still writes into an output being removed.
    for (const worker of workers) if (worker.child.exitCode === null && !worker.child.killed) worker.child.kill();
    await Promise.all(workers.map((worker) => worker.exited));
  }
  return results;
}

interface WorkerHandle<Init, Task, Result> {
  child: ChildProcess;
  exited: Promise<void>;
  request(message: Request<Init, Task>): Promise<Result | undefined>;
}

function startWorker<Init, Task, Result>(moduleUrl: string, basename: string, detached: boolean, nodeFlags: string[]): WorkerHandle<Init, Task, Result> {
  const { file, execArgv } = childModule(moduleUrl, basename);
  const child = fork(file, [flag(basename)], { execArgv: [...execArgv, ...nodeFlags], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'], detached });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const request = (message: Request<Init, Task>): Promise<Result | undefined> =>
    new Promise((resolve, reject) => {
      const onMessage = (reply: Reply<Result>): void => {
        child.off('exit', onExit);
        if (reply.type === 'ok') return resolve(reply.result);
        const error = reply.user ? new UserError(reply.message, reply.user) : new Error(reply.message);
        if (reply.stack) error.stack = reply.stack;
        reject(error);
      };
      const onExit = (code: number | null, signal: string | null): void => {
        child.off('message', onMessage);
        reject(new Error(`${basename} process exited (code ${code}, signal ${signal})`));
      };
      child.once('message', onMessage);
      child.once('exit', onExit);
      child.send(message);
    });
  return { child, exited, request };
}

export interface TaskHandlers<Init, Task, Result> {
  init?: (init: Init) => void | Promise<void>;
  task: (task: Task) => Result | Promise<Result>;
  close?: () => void;
}

/** Child side: serves requests one at a time when this process was forked as `basename`; a no-op otherwise. */
export function serveTasks<Init, Task, Result>(basename: string, handlers: TaskHandlers<Init, Task, Result>): void {
  if (!process.send || !process.argv.includes(flag(basename))) return;
  const reply = (message: Reply<Result | undefined>): void => void process.send!(message);
  let queue = Promise.resolve();
  process.on('message', (message: Request<Init, Task>) => {
    queue = queue.then(async () => {
      if (message.type === 'close') {
        handlers.close?.();
        process.exit(0);
      }
      try {
        if (message.type === 'init') {
          await handlers.init?.(message.init);
          reply({ type: 'ok', result: undefined });
        } else {
          reply({ type: 'ok', result: await handlers.task(message.task) });
        }
      } catch (error) {
        reply({
          type: 'error',
          message: error instanceof Error ? error.message : String(error),
          stack: error instanceof Error ? error.stack : undefined,
          user: error instanceof UserError ? error.context : undefined,
        });
      }
    });
  });
}
