import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Job, Queue } from 'bullmq';
import gdal from 'gdal-async';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { redisAddress, SHARD_ATTEMPTS, SHARD_QUEUE } from '../pipeline/queue/index.js';
import { parquetOutputs, runSummary } from './helpers/parquet-outputs.js';
import { freePort, startCli, startRedis, type Watched } from './helpers/processes.js';
import { capture, tempDir } from './ingest-helpers.js';

/**
 * `run --queue` with `ocs-zan worker` processes on a redis-server of the test's own (127.0.0.1, free port, no
 * persistence): the exports equal a plain run's byte for byte, also when a worker is killed -9 mid-shard; a user
 * error fails the run at once; an unreachable Redis is a user error.
 */
const DEMO = path.join(PROJECT_ROOT, 'fixtures', 'data', 'demo.gpkg');
const INPUTS = [...['2010', '2019', '2022'].flatMap((y) => ['--vintage', `${y}=${DEMO}#ocsge_${y}`]), '--territories', `${DEMO}#communes`, '--no-tiles', '--no-portraits', '--quiet'];

describe('run --queue with ocs-zan workers', async () => {
  const dir = tempDir('ocs-zan-queue-');
  const { url, server } = await startRedis(dir);
  const workers: Watched[] = [];
  const startWorker = (): Watched => {
    const worker = startCli(['worker', '--queue', url, '--jobs', '1']);
    workers.push(worker);
    return worker;
  };
  afterAll(async () => {
    for (const worker of workers) await worker.stop('SIGKILL');
    await server.stop();
  });
  const run = async (out: string, extra: string[]): Promise<{ code: number; err: string }> => {
    const io = capture();
    const code = await runCli(['run', ...INPUTS, '--out', out, ...extra], io.io);
    return { code, err: io.err() };
  };

  const plain = await run(path.join(dir, 'plain'), ['--jobs', '1']);
  const reference = parquetOutputs(path.join(dir, 'plain'));
  await Promise.all([startWorker(), startWorker(), startWorker()].map((w) => w.waitFor(/waiting for shard jobs/)));

  it('gives the Parquet outputs of a plain run, byte for byte', async () => {
    expect(plain.code).toBe(0);
    const queued = await run(path.join(dir, 'queued'), ['--cache', path.join(dir, 'cache-1'), '--queue', url]);
    expect(queued.err).toBe('');
    expect(queued.code).toBe(0);
    expect(runSummary(path.join(dir, 'queued')).shards).toEqual({ total: 2, reused: 0, computed: 2 });
    expect(parquetOutputs(path.join(dir, 'queued'))).toEqual(reference);
    expect(workers.map((w) => w.output).join('')).toMatch(/dep-67 computed/);
  });

  it('recovers a shard whose worker is killed -9, with the same outputs', async () => {
    const seen = workers.map((w) => w.output.length);
    const running = run(path.join(dir, 'killed'), ['--cache', path.join(dir, 'cache-2'), '--queue', url]);
    const started = /worker \S+: dep-6[78] \(job/;
    const since = (w: Watched): string => w.output.slice(seen[workers.indexOf(w)]);
    while (!workers.some((w) => started.test(since(w)))) await new Promise((r) => setTimeout(r, 100));
    const victim = workers.find((w) => started.test(since(w)))!;
    const shard = /(dep-6[78]) \(job/.exec(since(victim))![1]!;
    // Mid-shard: the job has started, its shard is being computed.
    await new Promise((r) => setTimeout(r, 1_500));
    await victim.stop('SIGKILL');
    const result = await running;
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    expect(parquetOutputs(path.join(dir, 'killed'))).toEqual(reference);
    // BullMQ found the job stalled and gave it to another worker.
    expect(workers.filter((w) => w !== victim).some((w) => since(w).includes(`${shard} (job`))).toBe(true);
    // The cache holds whole shards only (a killed process's temporary folder is hidden, and removed by the next shard computed here).
    const shards = readdirSync(path.join(dir, 'cache-2', 'shards')).filter((name) => !name.startsWith('.'));
    expect(shards.every((name) => /^[0-9a-f]{32}$/.test(name) && existsSync(path.join(dir, 'cache-2', 'shards', name, 'shard.json')))).toBe(true);
  });

  it('fails the run on a user error in a shard, without retrying it', async () => {
    // An unknown code is found while staging, in the shard (files, layers and fields are checked before enqueuing).
    const unknown = path.join(dir, 'unknown-code.gpkg');
    copyFileSync(DEMO, unknown);
    const dataset = gdal.open(unknown, 'r+');
    const layer = dataset.layers.get('ocsge_2019');
    const feature = layer.features.first()!;
    feature.fields.set('CODE_CS', 'CS9.9');
    layer.features.set(feature);
    dataset.close();
    const bad = await run(path.join(dir, 'bad'), ['--vintage', `2015=${unknown}#ocsge_2019`, '--cache', path.join(dir, 'cache-3'), '--queue', url]);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^ocs-zan: error: shard\[dep-6[78]\]: .*1 unknown or missing code: CS9\.9/);
    expect(bad.err.trim().split('\n')).toHaveLength(1);
    const attempts = workers.map((w) => w.output).join('').match(/dep-6[78] \(job \S+-dep-6[78], attempt [2-9]/g);
    expect(attempts).toBeNull();
  });

  it('retries a shard that fails with an internal error, 4 attempts in all', async () => {
    const queue = new Queue(SHARD_QUEUE, { connection: redisAddress(url) });
    // No communes: a TypeError in the shard, a bug as far as the worker can tell.
    const task = { id: 'dep-00', departement: '00', key: 'broken', sources: [], ingest: {}, communes: null, thresholds: null };
    await queue.add('shard', { task, cacheDir: path.join(dir, 'cache-5', 'shards') }, { jobId: 'test-broken', attempts: SHARD_ATTEMPTS, backoff: { type: 'fixed', delay: 100 } });
    // The job is read once failed: read before its state, it can be an attempt behind.
    while ((await queue.getJobState('test-broken')) !== 'failed') await new Promise((r) => setTimeout(r, 200));
    const job = await Job.fromId(queue, 'test-broken');
    expect(job!.attemptsMade).toBe(SHARD_ATTEMPTS);
    expect(job!.failedReason).toBe("shard[dep-00]: Cannot read properties of null (reading 'map')");
    expect(readdirSync(path.join(dir, 'cache-5', 'shards'))).toEqual([]);
    await queue.close();
  });

  it('stops a worker on SIGTERM', async () => {
    const alive = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
    expect(await alive[0]!.stop('SIGTERM')).toBe(0);
  });

  it('fails in one line when Redis restarts without persistence mid-run', async () => {
    const lone = await startRedis(dir);
    const port = Number(new URL(lone.url).port);
    // No worker serves this Redis: the shards wait until it restarts empty.
    const running = run(path.join(dir, 'restarted'), ['--cache', path.join(dir, 'cache-6'), '--queue', lone.url]);
    await new Promise((r) => setTimeout(r, 3_000));
    await lone.server.stop('SIGKILL');
    const restarted = await startRedis(dir, port);
    const result = await running;
    await restarted.server.stop();
    expect(result.code).toBe(2);
    expect(result.err).toMatch(/^ocs-zan: error: shard job \S+-dep-67 is gone from Redis at redis:\/\/127\.0\.0\.1:\d+ \(restarted without persistence\?\) \(run again: .*\)\n$/);
  });

  it('says an unreachable Redis in one line, exit 2', async () => {
    const port = await freePort();
    const queued = await run(path.join(dir, 'nowhere'), ['--cache', path.join(dir, 'cache-4'), '--queue', `redis://127.0.0.1:${port}`]);
    expect(queued.code).toBe(2);
    expect(queued.err).toMatch(new RegExp(`^ocs-zan: error: cannot reach Redis at redis://127.0.0.1:${port}: .*\\n$`));
    const worker = startCli(['worker', '--queue', `redis://127.0.0.1:${port}`]);
    expect(await worker.exited).toBe(2);
    expect(worker.output).toMatch(/cannot reach Redis/);
  });
});
