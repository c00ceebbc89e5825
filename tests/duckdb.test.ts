// DuckDB instances are opened with a memory bound and spill to the system's temp folder: a sort larger than
// the bound completes, in order, without files in the working directory.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DUCKDB_MEMORY_ENV, openDuckDB } from '../pipeline/core/duckdb.js';
import { describeError, EXIT_USER, StageError, UserError } from '../pipeline/core/errors.js';
import { sqlString } from '../pipeline/core/sql.js';

describe('openDuckDB', () => {
  const saved = process.env[DUCKDB_MEMORY_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[DUCKDB_MEMORY_ENV];
    else process.env[DUCKDB_MEMORY_ENV] = saved;
  });

  it('bounds memory and spills a larger sort to the temp folder', async () => {
    process.env[DUCKDB_MEMORY_ENV] = '64MB';
    const instance = await openDuckDB(':memory:', { threads: '1' });
    const conn = await instance.connect();
    try {
      const settings = (await conn.runAndReadAll(`SELECT current_setting('memory_limit') AS memory, current_setting('temp_directory') AS temp`)).getRowObjectsJS()[0]!;
      expect(settings.memory).toBe('61.0 MiB');
      expect(String(settings.temp).startsWith(os.tmpdir())).toBe(true);
      // About 300 MB of rows sorted under a 64 MB bound, as the shard merge and the tile index sort pieces.
      const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'ocs-zan-sort-test-')), 'sorted.parquet');
      await conn.run(`COPY (SELECT hash(i) AS h, repeat('x', 48) || i::VARCHAR AS payload FROM range(3000000) t(i) ORDER BY h) TO ${sqlString(file)} (FORMAT parquet)`);
      const sorted = (
        await conn.runAndReadAll(`SELECT count(*)::DOUBLE AS n, (first(h) = min(h))::INTEGER AS ordered FROM read_parquet(${sqlString(file)})`)
      ).getRowObjectsJS()[0]!;
      await rm(path.dirname(file), { recursive: true });
      expect(sorted).toEqual({ n: 3_000_000, ordered: 1 });
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
    expect(existsSync(path.join(process.cwd(), '.tmp'))).toBe(false);
  });

  it('reports running out of the bound as a user error naming the setting', async () => {
    process.env[DUCKDB_MEMORY_ENV] = '32MB';
    const instance = await openDuckDB(':memory:', { threads: '1' });
    const conn = await instance.connect();
    // List aggregates do not spill.
    const failure = await conn.run(`SELECT i % 1000000 AS k, list(i) FROM range(5000000) t(i) GROUP BY k`).then(() => null, (error: unknown) => error);
    conn.closeSync();
    instance.closeSync();
    const { text, exitCode } = describeError(new StageError('tiles', undefined, failure));
    expect(exitCode).toBe(EXIT_USER);
    expect(text).toMatch(/^ocs-zan: error: tiles: DuckDB needed more memory than its bound .*OCS_ZAN_DUCKDB_MEMORY=4GB/);
  });

  it('removes the spill folders of killed processes, not those of live ones', async () => {
    const dead = spawnSync(process.execPath, ['-e', '']).pid!;
    const deadFolder = path.join(os.tmpdir(), `ocs-zan-duckdb-${dead}`);
    const liveFolder = path.join(os.tmpdir(), `ocs-zan-duckdb-${process.ppid}`);
    await mkdir(path.join(deadFolder, '1'), { recursive: true });
    await writeFile(path.join(deadFolder, '1', 'duckdb_temp_storage.tmp'), 'spilled');
    const liveExisted = existsSync(liveFolder);
    await mkdir(liveFolder, { recursive: true });
    vi.resetModules();
    const fresh = await import('../pipeline/core/duckdb.js');
    (await fresh.openDuckDB(':memory:')).closeSync();
    expect(existsSync(deadFolder)).toBe(false);
    expect(existsSync(liveFolder)).toBe(true);
    if (!liveExisted) await rm(liveFolder, { recursive: true });
  });

  it(`refuses a ${DUCKDB_MEMORY_ENV} that is not a size`, async () => {
    process.env[DUCKDB_MEMORY_ENV] = 'lots';
    await expect(openDuckDB(':memory:')).rejects.toThrow(UserError);
    await expect(openDuckDB(':memory:')).rejects.toThrow(/OCS_ZAN_DUCKDB_MEMORY=lots is not a size/);
  });
});
