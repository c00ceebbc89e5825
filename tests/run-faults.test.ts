import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import type { StageManifest } from '../pipeline/core/types.js';
import { capture, tempDir } from './ingest-helpers.js';

/**
 * Whole runs on the dirty fixtures (fixtures/dirty/README.md): overlaps inside a vintage, vintages
 * without polygons, commune layers with wrong CRS or coordinates, partial coverage, and provenance
 * that does not depend on where the inputs lie.
 */

const DIRTY = path.join(PROJECT_ROOT, 'fixtures', 'dirty');
const dirty = (name: string): string => path.join(DIRTY, name);
const dir = tempDir('ocs-zan-run-faults-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function run(args: string[], options: { quiet?: boolean } = {}): Promise<{ code: number; out: string; err: string }> {
  const c = capture();
  const code = await runCli(['run', '--no-tiles', '--no-portraits', ...(options.quiet === false ? [] : ['--quiet']), '--jobs', '1', ...args], c.io);
  return { code, out: c.out(), err: c.err() };
}

async function metadata(out: string): Promise<Record<string, string>> {
  const instance = await DuckDBInstance.create(path.join(out, 'ocs.duckdb'), { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  try {
    const rows = (await connection.runAndReadAll('SELECT key, value FROM run_metadata ORDER BY key')).getRows() as Array<[string, string]>;
    return Object.fromEntries(rows);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** A one-line user error, and no output nor temporary folder left. */
async function expectUserError(args: string[], out: string, pattern: RegExp): Promise<void> {
  const { code, err } = await run([...args, '--out', out]);
  expect(code).toBe(2);
  expect(err.trimEnd().split('\n')).toHaveLength(1);
  expect(err).toMatch(pattern);
  expect(existsSync(out)).toBe(false);
  expect(readdirSync(dir).filter((name) => name.includes('.tmp-'))).toEqual([]);
}

describe('overlaps within a vintage', () => {
  it('runs, gives the shared area to one polygon and counts it once, as a repair', async () => {
    const out = path.join(dir, 'overlap');
    const result = await run(['--vintage', `2019=${dirty('overlap.gpkg')}`, '--vintage', `2022=${dirty('duplicate-feature.gpkg')}`, '--territories', dirty('communes.gpkg'), '--out', out]);
    expect(result.err).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(readFileSync(path.join(out, 'run-summary.json'), 'utf8')) as { overlay: { vintages: Array<Record<string, number>> } };
    // The commune is exactly the six parcels (1.2 ha): covered once at each vintage, nothing left outside.
    for (const v of summary.overlay.vintages) {
      expect(v['covered_m2']).toBeCloseTo(12_000, 4);
      expect(v['uncovered_m2']).toBeCloseTo(0, 4);
      expect(v['outside_communes_m2']).toBeCloseTo(0, 4);
    }
    const meta = await metadata(out);
    expect(JSON.parse(meta['repairs.2019']!)).toMatchObject({ overlaps_resolved: 1, overlap_area_m2: 800 });
    expect(JSON.parse(meta['repairs.2022']!)).toMatchObject({ overlaps_resolved: 1, overlap_area_m2: 2000 });
  });
});

describe('vintages and communes that cannot be used', () => {
  it('refuses a vintage without any polygon instead of dropping it', async () => {
    await expectUserError(
      ['--vintage', `2010=${dirty('points.gpkg')}`, '--vintage', `2019=${dirty('overlap.gpkg')}`, '--territories', dirty('communes.gpkg')],
      path.join(dir, 'points'),
      /points\.gpkg, layer occupation_sol: vintage 2010: no polygon, 6 Point features/,
    );
  });

  it('refuses communes in degrees declared as Lambert-93', async () => {
    await expectUserError(
      ['--vintage', `2019=${dirty('overlap.gpkg')}`, '--territories', dirty('communes-degrees.gpkg')],
      path.join(dir, 'degrees'),
      /territories: .*communes-degrees\.gpkg, layer communes: coordinates are not in the declared CRS EPSG:2154/,
    );
  });

  it('names the commune with a NaN coordinate', async () => {
    await expectUserError(
      ['--vintage', `2019=${dirty('overlap.gpkg')}`, '--territories', dirty('communes-nan-coordinate.gpkg')],
      path.join(dir, 'nan'),
      /communes-nan-coordinate\.gpkg, layer communes, feature 67019: a NaN or infinite coordinate/,
    );
  });

  it('warns about partial coverage and communes without data, in the summary and run_metadata', async () => {
    const out = path.join(dir, 'beyond');
    const result = await run(['--vintage', `2019=${dirty('overlap.gpkg')}`, '--territories', dirty('communes-beyond-ocs.gpkg'), '--out', out], { quiet: false });
    expect(result.code).toBe(0);
    const expected = [
      "vintage 2019 covers only 25.0 % of its communes' area (3.60 ha without data): its indicators are partial",
      '1 commune has no OCS data at any vintage: 67019 (check that the vintages cover them)',
    ];
    for (const line of expected) expect(result.out).toContain(`warning: ${line}`);
    expect(JSON.parse((await metadata(out))['warnings']!)).toEqual(expected);
  });
});

describe('provenance', () => {
  it('records input paths as written in the config file, so that moving the inputs changes no output', async () => {
    const outputs: string[] = [];
    for (const where of ['a', path.join('b', 'deeper')]) {
      const inputs = path.join(dir, where);
      mkdirSync(path.join(inputs, 'data'), { recursive: true });
      for (const name of ['overlap.gpkg', 'duplicate-feature.gpkg', 'communes.gpkg']) cpSync(dirty(name), path.join(inputs, 'data', name));
      const config = path.join(inputs, 'run.yml');
      writeFileSync(config, ['vintage: [2019=data/overlap.gpkg, 2022=data/duplicate-feature.gpkg#occupation_sol]', 'territories: data/communes.gpkg#communes', ''].join('\n'));
      const out = path.join(dir, `out-${outputs.length}`);
      expect((await run(['--config', config, '--out', out])).code).toBe(0);
      outputs.push(out);
    }
    // Shards stage in the cache or a temporary folder: the run's manifest is in its summary.
    const manifestOf = (out: string): StageManifest => (JSON.parse(readFileSync(path.join(out, 'run-summary.json'), 'utf8')) as { manifest: StageManifest }).manifest;
    const manifest = manifestOf(outputs[0]!);
    expect(manifest.vintages.map((v) => [v.source.path, v.source.layer])).toEqual([
      ['data/overlap.gpkg', 'occupation_sol'],
      ['data/duplicate-feature.gpkg', 'occupation_sol'],
    ]);
    const meta = await metadata(outputs[0]!);
    expect(JSON.parse(meta['input.2019']!)).toMatchObject({ path: 'data/overlap.gpkg', layer: 'occupation_sol' });
    expect(JSON.parse(meta['territories']!)).toMatchObject({ path: 'data/communes.gpkg#communes' });
    expect(JSON.parse(meta['options']!)).toMatchObject({ territories: 'data/communes.gpkg#communes', vintage: ['2019=data/overlap.gpkg', '2022=data/duplicate-feature.gpkg#occupation_sol'] });
    const parquet = (out: string): Buffer => readFileSync(path.join(out, 'parquet', 'run_metadata.parquet'));
    expect(parquet(outputs[1]!).equals(parquet(outputs[0]!))).toBe(true);
    expect(manifestOf(outputs[1]!)).toEqual(manifest);
  });
});
