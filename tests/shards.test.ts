import { copyFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import gdal from 'gdal-async';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { parquetOutputs, runSummary } from './helpers/parquet-outputs.js';
import { capture, tempDir } from './ingest-helpers.js';

/**
 * Shards (one département's ingest + overlay) and the shard cache, in process: the demo's 12 communes are in
 * 67 and 68, with vintages given per département from two copies of the fixture, so that changing one copy
 * changes one shard.
 */
const DEMO = path.join(PROJECT_ROOT, 'fixtures', 'data', 'demo.gpkg');
const YEARS = ['2010', '2019', '2022'];

describe('shards and the shard cache', async () => {
  const dir = tempDir('ocs-zan-shards-');
  const copies = { '67': path.join(dir, 'ocs-67.gpkg'), '68': path.join(dir, 'ocs-68.gpkg') };
  for (const file of Object.values(copies)) copyFileSync(DEMO, file);
  const cache = path.join(dir, 'cache');
  const run = async (out: string, extra: string[] = []): Promise<{ code: number; err: string }> => {
    const io = capture();
    const vintages = Object.entries(copies).flatMap(([dep, file]) => YEARS.flatMap((y) => ['--vintage', `${dep}:${y}=${file}#ocsge_${y}`]));
    const code = await runCli(['run', ...vintages, '--territories', `${DEMO}#communes`, '--out', out, '--no-tiles', '--no-portraits', '--quiet', ...extra], io.io);
    return { code, err: io.err() };
  };

  const first = await run(path.join(dir, 'first'), ['--cache', cache]);

  it('computes one shard per département into the cache', () => {
    expect(first.err).toBe('');
    expect(first.code).toBe(0);
    expect(runSummary(path.join(dir, 'first')).shards).toEqual({ total: 2, reused: 0, computed: 2 });
    // Whole shards only: two folders named by their key, no temporary leftovers.
    expect(readdirSync(path.join(cache, 'shards')).sort()).toEqual([expect.stringMatching(/^[0-9a-f]{32}$/), expect.stringMatching(/^[0-9a-f]{32}$/)]);
  });

  it('gives the same exports with and without a cache, and whatever --jobs', async () => {
    const plain = await run(path.join(dir, 'plain'), ['--jobs', '1']);
    expect(plain.code).toBe(0);
    expect(runSummary(path.join(dir, 'plain')).shards).toEqual({ total: 2, reused: 0, computed: 2 });
    expect(parquetOutputs(path.join(dir, 'plain'))).toEqual(parquetOutputs(path.join(dir, 'first')));
  });

  it('recomputes only the shard whose input changed, with the outputs of a full run', async () => {
    const again = await run(path.join(dir, 'again'), ['--cache', cache]);
    expect(again.code).toBe(0);
    expect(runSummary(path.join(dir, 'again')).shards).toEqual({ total: 2, reused: 2, computed: 0 });
    expect(parquetOutputs(path.join(dir, 'again'))).toEqual(parquetOutputs(path.join(dir, 'first')));

    // One polygon of 68's 2022 vintage changes use.
    const dataset = gdal.open(copies['68'], 'r+');
    const layer = dataset.layers.get('ocsge_2022');
    const feature = layer.features.first()!;
    feature.fields.set('CODE_US', feature.fields.get('CODE_US') === 'US5' ? 'US1.1' : 'US5');
    layer.features.set(feature);
    dataset.close();

    const incremental = await run(path.join(dir, 'incremental'), ['--cache', cache]);
    expect(incremental.code).toBe(0);
    expect(runSummary(path.join(dir, 'incremental')).shards).toEqual({ total: 2, reused: 1, computed: 1 });
    const full = await run(path.join(dir, 'full'));
    expect(full.code).toBe(0);
    const fullOutputs = parquetOutputs(path.join(dir, 'full'));
    expect(parquetOutputs(path.join(dir, 'incremental'))).toEqual(fullOutputs);
    expect(fullOutputs['run_metadata.parquet']).not.toEqual(parquetOutputs(path.join(dir, 'first'))['run_metadata.parquet']);
  });
});
