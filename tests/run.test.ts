import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { query } from './helpers/db.js';
import { handBuiltInputs, round } from './helpers/hand-built.js';
import { capture, tempDir } from './ingest-helpers.js';

/**
 * End-to-end `ocs-zan run`: hand-built squares with known answers, the config-file form,
 * output protection, and --jobs independence of the exports on the committed fixture.
 */

describe('ocs-zan run on hand-built squares', async () => {
  const dir = tempDir('ocs-zan-run-');
  const { ocs, communes } = handBuiltInputs(dir);
  const out = path.join(dir, 'out');
  const { io, err, out: printed } = capture();
  const code = await runCli(
    ['run', '--vintage', `2010=${ocs}#ocs_2010`, '--vintage', `2019=${ocs}#ocs_2019`, '--vintage', `2022=${ocs}#ocs_2022`,
      '--territories', `${communes}#communes`, '--out', out, '--no-tiles', '--no-portraits', '--quiet'],
    io,
  );
  const db = path.join(out, 'ocs.duckdb');

  it('runs, printing nothing with --quiet', () => {
    expect(err()).toBe('');
    expect(printed()).toBe('');
    expect(code).toBe(0);
  });

  it('splits the strip at the commune border into exact pieces', async () => {
    const rows = await query(db, `SELECT commune_code, sum(area_m2) AS area FROM piece GROUP BY ALL ORDER BY ALL`);
    expect(rows.map((r) => [r.commune_code, round(r.area)])).toEqual([['67001', 1_000_000], ['67002', 1_000_000]]);
  });

  it('gives the exact artificialisation flux per commune and département', async () => {
    const rows = await query(
      db,
      `SELECT level, code, from_vintage, to_vintage, artificialisation_m2, desartificialisation_m2, net_m2, years
       FROM artif_flux WHERE level IN ('commune', 'departement') ORDER BY level, code, from_vintage, to_vintage`,
    );
    const table = rows.map((r) => [r.level, r.code, r.from_vintage, r.to_vintage, round(r.artificialisation_m2), round(r.desartificialisation_m2), round(r.net_m2), Number(r.years)]);
    expect(table).toEqual([
      ['commune', '67001', 2010, 2019, 10_000, 0, 10_000, 9],
      ['commune', '67001', 2010, 2022, 0, 0, 0, 12],
      ['commune', '67001', 2019, 2022, 0, 10_000, -10_000, 3],
      ['commune', '67002', 2010, 2019, 10_000, 0, 10_000, 9],
      ['commune', '67002', 2010, 2022, 10_000, 0, 10_000, 12],
      ['commune', '67002', 2019, 2022, 0, 0, 0, 3],
      ['departement', '67', 2010, 2019, 20_000, 0, 20_000, 9],
      ['departement', '67', 2010, 2022, 10_000, 0, 10_000, 12],
      ['departement', '67', 2019, 2022, 0, 10_000, -10_000, 3],
    ]);
  });

  it('gives the exact stock, sealing, ENAF consumption and transitions', async () => {
    const stock = await query(db, `SELECT vintage, artificialised_m2, sealed_m2 FROM stock_summary WHERE level = 'departement' ORDER BY vintage`);
    expect(stock.map((r) => [r.vintage, round(r.artificialised_m2), round(r.sealed_m2)])).toEqual([
      [2010, 0, 0],
      [2019, 20_000, 20_000],
      [2022, 10_000, 10_000],
    ]);
    const enaf = await query(db, `SELECT code, destination, area_m2 FROM enaf_consumption WHERE level = 'commune' AND from_vintage = 2010 AND to_vintage = 2019 AND area_m2 > 0 ORDER BY ALL`);
    expect(enaf.map((r) => [r.code, r.destination, round(r.area_m2)])).toEqual([
      ['67001', 'habitat', 10_000],
      ['67002', 'habitat', 10_000],
    ]);
    const renaturation = await query(db, `SELECT code, renaturation_m2 FROM enaf_summary WHERE level = 'commune' AND from_vintage = 2019 AND to_vintage = 2022 ORDER BY code`);
    expect(renaturation.map((r) => [r.code, round(r.renaturation_m2)])).toEqual([['67001', 10_000], ['67002', 0]]);
    const transitions = await query(
      db,
      `SELECT code, from_category, to_category, area_m2 FROM transition WHERE level = 'commune' AND from_vintage = 2019 AND to_vintage = 2022 AND from_category <> to_category ORDER BY ALL`,
    );
    expect(transitions.map((r) => [r.code, r.from_category, r.to_category, round(r.area_m2)])).toEqual([['67001', 1, 9, 10_000]]);
  });

  it('estimates the 2011–2020 reference from OCS without a Cerema file, and no garantie communale without planning documents', async () => {
    const rows = await query(db, `SELECT code, source, reference_2011_2020_m2, allowance_2021_2030_m2, guarantee_applied, consumed_since_2021_m2, status FROM trajectory WHERE level = 'commune' ORDER BY code`);
    // 1 ha consumed over 2010→2019 (9 years): 1.111 ha per decade, halved to 0.556 ha; 2019→2022 starts before 2021.
    expect(rows.map((r) => [r.code, r.source, round(r.reference_2011_2020_m2), round(r.allowance_2021_2030_m2), r.guarantee_applied, r.consumed_since_2021_m2, r.status])).toEqual([
      ['67001', 'ocs', 11_111.111, 5555.556, false, null, 'no_consumption_data'],
      ['67002', 'ocs', 11_111.111, 5555.556, false, null, 'no_consumption_data'],
    ]);
  });

  it('records inputs with checksums, versions and timings', async () => {
    const rows = await query(db, `SELECT key, value FROM run_metadata ORDER BY key`);
    const keys = rows.map((r) => String(r.key));
    expect(keys).toEqual(expect.arrayContaining(['tool_version', 'nomenclature_version', 'input.2010', 'options', 'timing.shards', 'timing.total_seconds']));
    expect(JSON.parse(String(rows.find((r) => r.key === 'input.2019')!.value)).sha256).toMatch(/^[0-9a-f]{64}$/);
    // The 1 ha buildings are above every threshold: the rules ran and moved nothing.
    expect(JSON.parse(String(rows.find((r) => r.key === 'thresholds')!.value))).toEqual({ applied: true, classes: 0, area_m2: 0 });
  });

  it('records --no-thresholds in run_metadata', async () => {
    const plain = path.join(dir, 'plain');
    const run = capture();
    const args = ['run', '--vintage', `2010=${ocs}#ocs_2010`, '--vintage', `2019=${ocs}#ocs_2019`, '--territories', `${communes}#communes`, '--out', plain, '--no-thresholds', '--no-tiles', '--no-portraits', '--quiet'];
    expect(await runCli(args, run.io)).toBe(0);
    const rows = await query(path.join(plain, 'ocs.duckdb'), `SELECT key, value FROM run_metadata WHERE key IN ('thresholds', 'options') ORDER BY key`);
    expect(JSON.parse(String(rows[0]!.value)).thresholds).toBe(false);
    expect(JSON.parse(String(rows[1]!.value))).toEqual({ applied: false, classes: 0, area_m2: 0 });
  });

  it('without --vintage-years takes the labels as years and writes no vintage_year table', async () => {
    expect(await query(db, `SELECT table_name FROM duckdb_tables() WHERE table_name = 'vintage_year'`)).toEqual([]);
    expect(await query(db, `SELECT key FROM run_metadata WHERE key LIKE 'vintage_years%'`)).toEqual([]);
    const combined = await query(db, `SELECT years_combined FROM artif_flux WHERE level = 'departement' ORDER BY from_rank, to_rank`);
    expect(combined.map((r) => r.years_combined)).toEqual(['2010→2019 (67)', '2010→2022 (67)', '2019→2022 (67)']);
  });

  it('refuses to overwrite the output without --force, and leaves it intact', async () => {
    const again = capture();
    const args = ['run', '--vintage', `2010=${ocs}#ocs_2010`, '--vintage', `2019=${ocs}#ocs_2019`, '--territories', `${communes}#communes`, '--out', out, '--no-tiles', '--no-portraits', '--quiet'];
    expect(await runCli(args, again.io)).toBe(2);
    expect(again.err()).toMatch(/output already exists.*--force/);
    expect(existsSync(db)).toBe(true);
  });

  it('refuses a Cerema file without idcom before any heavy work (exit 2, one line)', async () => {
    const cerema = path.join(dir, 'cerema.csv');
    writeFileSync(cerema, 'code;naf11art12\n67001;10\n');
    const bad = capture();
    const args = ['run', '--vintage', `2010=${ocs}#ocs_2010`, '--territories', `${communes}#communes`, '--cerema', cerema, '--out', path.join(dir, 'cerema-out'), '--quiet'];
    expect(await runCli(args, bad.io)).toBe(2);
    expect(bad.err()).toMatch(/cerema\.csv: Cerema file has no idcom column/);
    expect(bad.err().trim().split('\n')).toHaveLength(1);
  });

  it('leaves no output behind when a user error stops the run', async () => {
    const failed = path.join(dir, 'failed');
    const bad = capture();
    const args = ['run', '--vintage', `2010=${ocs}#ocs_2010`, '--vintage', `2019=${ocs}#no_such_layer`, '--territories', `${communes}#communes`, '--out', failed, '--quiet'];
    expect(await runCli(args, bad.io)).toBe(2);
    expect(bad.err().trim().split('\n')).toHaveLength(1);
    expect(existsSync(failed)).toBe(false);
    expect(readdirSync(dir).filter((name) => name.includes('.tmp-'))).toEqual([]);
  });
});

describe('ocs-zan run on the committed fixture', () => {
  const fixture = path.join(PROJECT_ROOT, 'fixtures', 'data', 'demo.gpkg');

  it('gives byte-identical Parquet exports with --jobs 1 and --jobs 2, from a config file', async () => {
    const dir = tempDir('ocs-zan-jobs-');
    const config = path.join(dir, 'run.yml');
    writeFileSync(
      config,
      [`vintage: [2010=${fixture}#ocsge_2010, 2019=${fixture}#ocsge_2019, 2022=${fixture}#ocsge_2022]`, `territories: ${fixture}#communes`,
        `cerema: ${path.join(path.dirname(fixture), 'obs_artif_conso_com_2009_2023.csv')}`, `planning-documents: ${path.join(path.dirname(fixture), 'planning-documents.csv')}`,
        'tiles: false', 'portraits: false', 'quiet: true', ''].join('\n'),
    );
    const one = capture();
    expect(await runCli(['run', '--config', config, '--jobs', '1', '--out', path.join(dir, 'one')], one.io)).toBe(0);
    const two = capture();
    expect(await runCli(['run', '--config', config, '--jobs', '2', '--out', path.join(dir, 'two')], two.io)).toBe(0);
    const files = readdirSync(path.join(dir, 'one', 'parquet')).sort();
    expect(files).toEqual(expect.arrayContaining(['piece.parquet', 'piece_class.parquet', 'artif_flux.parquet', 'stock.parquet', 'transition.parquet', 'consumption_cerema.parquet', 'trajectory.parquet']));
    expect(readdirSync(path.join(dir, 'two', 'parquet')).sort()).toEqual(files);
    for (const file of files) {
      expect(readFileSync(path.join(dir, 'two', 'parquet', file)).equals(readFileSync(path.join(dir, 'one', 'parquet', file))), file).toBe(true);
    }
  });
});
