import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { dumpTable } from '../pipeline/exports/dump.js';
import { exportTables } from '../pipeline/exports/index.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { buildFixtureDb } from './indicators-fixture.js';

const GOLDEN_DIR = path.join(PROJECT_ROOT, 'tests', 'fixtures', 'golden', 'indicators');
const GOLDEN_TABLES = ['stock_summary', 'artif_flux', 'enaf_consumption', 'trajectory', 'territory'];

let dir: string;
let dbPath: string;

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) }, out, err };
}

beforeAll(async () => {
  const built = await buildFixtureDb();
  dir = built.dir;
  dbPath = built.dbPath;
}, 60_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('exports', () => {
  it('writes every table as Parquet and CSV, byte-identical across runs', async () => {
    const first = await exportTables({ dbPath, parquetDir: path.join(dir, 'a', 'parquet'), csvDir: path.join(dir, 'a', 'csv') });
    await exportTables({ dbPath, parquetDir: path.join(dir, 'b', 'parquet'), csvDir: path.join(dir, 'b', 'csv') });
    expect(Object.keys(first.rows)).toEqual(expect.arrayContaining(['piece', 'piece_class', 'territory', 'stock', 'trajectory', 'run_metadata']));
    for (const sub of ['parquet', 'csv']) {
      const names = readdirSync(path.join(dir, 'a', sub)).sort();
      expect(names).toHaveLength(Object.keys(first.rows).length);
      for (const name of names) {
        expect(readFileSync(path.join(dir, 'b', sub, name)).equals(readFileSync(path.join(dir, 'a', sub, name))), name).toBe(true);
      }
    }
  });

  it('writes GeoParquet metadata with the Lambert-93 PROJJSON CRS, and WKT in CSV', async () => {
    const instance = await DuckDBInstance.create(':memory:');
    const connection = await instance.connect();
    for (const table of ['piece', 'territory']) {
      const reader = await connection.runAndReadAll(
        `SELECT decode(value) FROM parquet_kv_metadata('${path.join(dir, 'a', 'parquet', `${table}.parquet`)}') WHERE decode(key) = 'geo'`,
      );
      const geo = JSON.parse(String(reader.getRows()[0]![0])) as { primary_column: string; columns: Record<string, { encoding: string; crs: { id: unknown } }> };
      expect(geo.primary_column).toBe('geom');
      expect(geo.columns.geom!.encoding).toBe('WKB');
      expect(geo.columns.geom!.crs.id).toEqual({ authority: 'EPSG', code: 2154 });
    }
    connection.closeSync();
    instance.closeSync();
    const csv = readFileSync(path.join(dir, 'a', 'csv', 'territory.csv'), 'utf8').split('\n');
    expect(csv[0]).toBe('level,code,name,area_m2,coverage_status,vintages,communes,geom_wkt');
    expect(csv[1]).toMatch(/^commune,54001,Commune 54001,40000\.0,complete_uniform,"2010, 2019, 2022",1,"POLYGON \(\(/);
  });
});

describe('dump', () => {
  it('gives the same canonical rows from Parquet and from the database', async () => {
    for (const table of ['artif_flux', 'piece']) {
      const fromParquet = JSON.parse(await dumpTable(path.join(dir, 'a', 'parquet', `${table}.parquet`))) as { rows: unknown[]; columns: unknown[] };
      const fromDb = JSON.parse(await dumpTable(`${dbPath}#${table}`)) as { rows: unknown[]; columns: unknown[] };
      expect(fromParquet.rows).toEqual(fromDb.rows);
      expect(fromParquet.columns).toEqual(fromDb.columns);
    }
    const piece = JSON.parse(await dumpTable(`${dbPath}#piece`)) as { columns: Array<{ type: string }>; rows: unknown[][] };
    expect(piece.columns.at(-1)!.type).toBe('GEOMETRY(EPSG:2154)');
    expect(piece.rows[0]).toEqual([1, '54001', 10000, 'POLYGON ((900000 6800000, 900100 6800000, 900100 6800100, 900000 6800100, 900000 6800000))']);
  });

  it('matches the golden dumps (REGEN=1 rewrites them)', async () => {
    for (const table of GOLDEN_TABLES) {
      const text = await dumpTable(`${dbPath}#${table}`);
      const golden = path.join(GOLDEN_DIR, `${table}.json`);
      if (process.env.REGEN === '1') {
        mkdirSync(GOLDEN_DIR, { recursive: true });
        writeFileSync(golden, text);
      }
      expect(text, table).toBe(readFileSync(golden, 'utf8'));
    }
  });

  it('prints a dump through the CLI, and refuses a missing file or table with exit code 2', async () => {
    const ok = capture();
    expect(await runCli(['dump', `${dbPath}#nomenclature_category`], ok.io)).toBe(0);
    const dump = JSON.parse(ok.out.join('')) as { source: string; row_count: number };
    expect([dump.source, dump.row_count]).toEqual(['ocs.duckdb#nomenclature_category', 10]);

    const missing = capture();
    expect(await runCli(['dump', path.join(dir, 'nope.parquet')], missing.io)).toBe(2);
    expect(missing.err.join('')).toMatch(/nope\.parquet: file not found/);

    const noTable = capture();
    expect(await runCli(['dump', dbPath], noTable.io)).toBe(2);
    expect(noTable.err.join('')).toMatch(/which table\? \(name one as FILE\.duckdb#table: artif_flux, artif_flux_detail/);
  });
});

describe('ocs-zan export', () => {
  it('writes parquet/ and csv/, refuses to overwrite them without --force', async () => {
    const out = path.join(dir, 'cli-out');
    const first = capture();
    expect(await runCli(['export', '--db', dbPath, '--out', out, '--table', 'stock', '--quiet'], first.io)).toBe(0);
    expect(readdirSync(path.join(out, 'parquet')).sort()).toEqual(['.ocs-zan-output', 'stock.parquet']);
    expect(readdirSync(path.join(out, 'csv')).sort()).toEqual(['.ocs-zan-output', 'stock.csv']);
    const again = capture();
    expect(await runCli(['export', '--db', dbPath, '--out', out, '--table', 'stock', '--quiet'], again.io)).toBe(2);
    expect(again.err.join('')).toMatch(/output already exists \(pass --force to overwrite it\)/);
    expect(await runCli(['export', '--db', dbPath, '--out', out, '--table', 'stock', '--quiet', '--force'], capture().io)).toBe(0);
    const unknown = capture();
    expect(await runCli(['export', '--db', dbPath, '--out', path.join(dir, 'x'), '--table', 'nope'], unknown.io)).toBe(2);
    expect(unknown.err.join('')).toMatch(/no table nope in the database/);
  });
});
