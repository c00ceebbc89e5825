/**
 * Queue stage: shards computed by `ocs-zan worker` processes on any machine through BullMQ on Redis.
 * `ocs-zan run --queue` enqueues a flow whose children are the shards missing from the cache and whose parent,
 * `merge`, becomes ready when they are all done; the run processes that parent itself, then merges. Workers
 * take shard jobs one at a time (the shard runs in a child process, see computeShardInChild) and write the
 * shard into the cache folder named in the job, which every machine must see at the same path.
 * - A user error fails the job without retry (UnrecoverableError) and with it the run (exit 2, same line).
 * - Any other error is retried: SHARD_ATTEMPTS attempts in all, then the run fails (exit 1, the worker's stack).
 * - A worker killed mid-shard stops renewing its job lock; another worker's stalled-job check gives the job
 *   back to the queue within LOCK_MS + STALLED_INTERVAL_MS. Shards are renamed into the cache whole, so the
 *   result is the same whoever finishes.
 * Job ids are `<run>-dep-67` (BullMQ refuses `:` in ids). See docs/SCALE-OUT.md.
 *
 * @example
 *   const results = await computeShardsOnQueue(tasks, { url: 'redis://127.0.0.1:6379', cacheDir: '/nfs/ocs-zan/shards' });
 *   await serveShardJobs({ url: 'redis://10.0.0.5:6379/2', jobs: 4 });   // in `ocs-zan worker`, until SIGTERM
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { FlowProducer, Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { describeError, EXIT_USER, UserError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { computeShardInChild, SHARD_FILE, shardDir, type ShardResult, type ShardTask } from '../shards/shard.js';

export const SHARD_QUEUE = 'ocs-zan-shards';
/** One attempt and three retries for internal errors. */
export const SHARD_ATTEMPTS = 4;
const LOCK_MS = 10_000;
const STALLED_INTERVAL_MS = 5_000;
const POLL_MS = 500;

/** What a shard job carries. */
interface ShardJobData {
  task: ShardTask;
  /** The run's shard cache; a worker started with --cache writes there instead. */
  cacheDir: string;
}

/** A shard job's return value: the shard and who computed it. */
interface ShardJobResult extends ShardResult {
  worker: string;
}

const USER_ERROR_PREFIX = 'ocs-zan: error: ';

interface RedisAddress {
  host: string;
  port: number;
  db: number;
}

/** `redis://HOST:PORT[/DB]` → address; anything else is a user error. */
export function redisAddress(url: string): RedisAddress {
  const match = /^redis:\/\/([^/:]+|\[[0-9a-fA-F:]+\]):([0-9]{1,5})(?:\/([0-9]{1,2}))?\/?$/.exec(url);
  if (!match) throw new UserError(`bad queue address '${url}'`, { remedy: 'expected redis://HOST:PORT or redis://HOST:PORT/DB, e.g. redis://127.0.0.1:6379/0' });
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port: Number(match[2]), db: match[3] === undefined ? 0 : Number(match[3]) };
}

/** Connects once without retrying: an unreachable Redis is a user error, said before anything is enqueued. */
export async function checkRedis(url: string): Promise<RedisAddress> {
  const options = redisAddress(url);
  const client = new Redis({ ...options, lazyConnect: true, connectTimeout: 5_000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    throw new UserError(`cannot reach Redis at ${url}: ${(error as Error).message}`, { remedy: 'start redis-server there, or fix the --queue address' });
  } finally {
    client.disconnect();
  }
  return options;
}

const workerName = (): string => `${hostname()}-${process.pid}`;

/**
 * Computes the shards missing from the cache on the queue and waits for them, printing progress; shards found in
 * the cache are not enqueued. Resolves to one result per task, in task order.
 */
export async function computeShardsOnQueue(tasks: ShardTask[], options: { url: string; cacheDir: string; logger?: Logger }): Promise<ShardResult[]> {
  const logger = options.logger ?? silentLogger;
  const connection = await checkRedis(options.url);
  const cacheDir = path.resolve(options.cacheDir);
  const cached = (task: ShardTask): boolean => existsSync(path.join(shardDir(cacheDir, task.key), SHARD_FILE));
  const missing = tasks.filter((task) => !cached(task));
  const computed = new Map<string, ShardJobResult>();
  if (missing.length > 0) {
    const run = `${workerName()}-${Date.now()}`.replace(/[^A-Za-z0-9_-]/g, '-');
    const jobId = (task: ShardTask): string => `${run}-${task.id}`;
    const mergeQueue = `ocs-zan-merge-${run}`;
    const flows = new FlowProducer({ connection });
    const shardQueue = new Queue(SHARD_QUEUE, { connection });
    const merge = mergeWorker(mergeQueue, connection);
    try {
      await flows.add({
        name: 'merge',
        queueName: mergeQueue,
        opts: { jobId: `${run}-merge` },
        children: missing.map((task) => ({
          name: 'shard',
          queueName: SHARD_QUEUE,
          data: { task, cacheDir } satisfies ShardJobData,
          opts: { jobId: jobId(task), attempts: SHARD_ATTEMPTS, backoff: { type: 'fixed', delay: 1_000 }, failParentOnFailure: true },
        })),
      });
      logger.info(`queue: ${missing.length} shards enqueued on ${options.url} (${tasks.length - missing.length} in the cache); waiting for workers`);
      let done = 0;
      const failure = watchShards(options.url, shardQueue, missing, jobId, (task, result) => {
        logger.info(`queue: ${++done}/${missing.length} shards done (${task.id} ${result.reused ? 'found in the cache' : `computed in ${result.seconds.toFixed(1)} s`} by ${result.worker})`);
      });
      const values = await Promise.race([merge.done, failure.promise]);
      failure.stop();
      for (const result of Object.values(values)) computed.set(result.id, result);
    } finally {
      await merge.worker.close();
      // Completed shard jobs go with the run; a shard still running elsewhere after a failure finishes into the cache.
      for (const task of missing) await shardQueue.remove(jobId(task));
      const parents = new Queue(mergeQueue, { connection });
      await parents.obliterate({ force: true });
      await parents.close();
      await flows.close();
      await shardQueue.close();
    }
  }
  return tasks.map((task) => {
    const result = computed.get(task.id);
    // The shard is read where this machine sees the cache, whatever path the worker wrote it under.
    return { id: task.id, key: task.key, dir: shardDir(cacheDir, task.key), reused: result ? result.reused : true, seconds: result ? result.seconds : 0 };
  });
}

/** The run's own worker on its merge queue: the parent job becomes ready once every shard is done. */
function mergeWorker(queue: string, connection: RedisAddress): { worker: Worker; done: Promise<Record<string, ShardJobResult>> } {
  let resolve!: (values: Record<string, ShardJobResult>) => void;
  const done = new Promise<Record<string, ShardJobResult>>((r) => (resolve = r));
  const worker = new Worker(queue, async (job) => resolve(await job.getChildrenValues<ShardJobResult>()), { connection: { ...connection, maxRetriesPerRequest: null } });
  return { worker, done };
}

/**
 * Polls the run's shard jobs: reports each completion once, and rejects on the first job that failed for good
 * (a user error, or an internal error after its last attempt) with that job's message, on a job gone from Redis
 * (restarted without persistence) and on a Redis that stays unreachable.
 */
function watchShards(
  url: string,
  queue: Queue,
  tasks: ShardTask[],
  jobId: (task: ShardTask) => string,
  onDone: (task: ShardTask, result: ShardJobResult) => void,
): { promise: Promise<never>; stop: () => void } {
  const reported = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    const poll = async (): Promise<void> => {
      for (const task of tasks) {
        if (reported.has(task.id)) continue;
        const gone = (): void =>
          reject(new UserError(`shard job ${jobId(task)} is gone from Redis at ${url} (restarted without persistence?)`, { remedy: 'run again: the shards already done are in the cache and are reused' }));
        const state = await queue.getJobState(jobId(task));
        if (state === 'unknown') return gone();
        if (state !== 'completed' && state !== 'failed') continue;
        // Read once its state is final: a job read before its state can be an attempt older than that state (a user
        // error then came out as an internal one, without the worker's error, and a result as null).
        const job = await Job.fromId<ShardJobData, ShardJobResult>(queue, jobId(task));
        if (!job) return gone();
        if (state === 'completed') {
          reported.add(task.id);
          onDone(task, job.returnvalue);
        } else {
          return reject(shardFailure(task, job));
        }
      }
      timer = setTimeout(() => void poll().catch(lost), POLL_MS);
    };
    const lost = (error: Error): void =>
      reject(new UserError(`lost Redis at ${url}: ${error.message}`, { remedy: 'run again once Redis is back: the shards already done are in the cache and are reused' }));
    void poll().catch(lost);
  });
  return { promise, stop: () => clearTimeout(timer) };
}

/** A failed shard job as the run's error: the same user error line, or an internal error with the worker's stack. */
function shardFailure(task: ShardTask, job: Job<ShardJobData, ShardJobResult>): Error {
  const stack = job.stacktrace?.at(-1) ?? '';
  if (stack.startsWith(UnrecoverableError.name)) return new UserError(job.failedReason ?? `shard ${task.id} failed`);
  const error = new Error(`shard ${task.id} failed after ${job.attemptsMade} attempts: ${job.failedReason}`);
  error.stack = `${error.message}\n--- last attempt, on the worker:\n${stack}`;
  return error;
}

export interface ServeShardJobsInput {
  url: string;
  /** Worker processes inside each shard (ingest vintages, overlay partitions). */
  jobs: number;
  /** The run's shard cache as this machine mounts it, when not at the run's path. */
  cacheDir?: string;
  quiet?: boolean;
  logger?: Logger;
  /** Resolves when the worker should stop; the current shard is finished first. */
  stop: Promise<void>;
}

/** Runs shard jobs, one at a time, until `stop` resolves. */
export async function serveShardJobs(input: ServeShardJobsInput): Promise<void> {
  const logger = input.logger ?? silentLogger;
  const connection = await checkRedis(input.url);
  const name = workerName();
  let done = 0;
  const worker = new Worker<ShardJobData, ShardJobResult>(
    SHARD_QUEUE,
    async (job) => {
      const { task } = job.data;
      const cacheDir = path.resolve(input.cacheDir ?? job.data.cacheDir);
      logger.info(`worker ${name}: ${task.id} (job ${job.id}, attempt ${job.attemptsMade + 1}/${SHARD_ATTEMPTS})`);
      try {
        const result = await computeShardInChild(task, { cacheDir, jobs: input.jobs, quiet: input.quiet });
        logger.info(`worker ${name}: ${task.id} ${result.reused ? 'found in the cache' : `computed in ${result.seconds.toFixed(1)} s`}`);
        done++;
        return { ...result, worker: name };
      } catch (error) {
        const { text, exitCode } = describeError(error);
        logger.warn(`worker ${name}: ${task.id} failed: ${text.split('\n')[0]}`);
        // A user error would fail again on any machine: no retry.
        if (exitCode === EXIT_USER) throw new UnrecoverableError(text.slice(USER_ERROR_PREFIX.length));
        throw error;
      }
    },
    { connection: { ...connection, maxRetriesPerRequest: null }, concurrency: 1, lockDuration: LOCK_MS, stalledInterval: STALLED_INTERVAL_MS, maxStalledCount: 3 },
  );
  worker.on('error', (error) => logger.warn(`worker ${name}: ${error.message}`));
  logger.info(`worker ${name}: waiting for shard jobs on ${input.url} (${input.jobs} jobs per shard)`);
  await input.stop;
  logger.info(`worker ${name}: stopping after the current shard`);
  await worker.close();
  logger.info(`worker ${name}: stopped after ${done} shard jobs`);
}
