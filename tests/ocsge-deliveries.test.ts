import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import gdal from 'gdal-async';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { generateIgnDeliveries, type IgnDeliveryResult } from '../fixtures/generator/ign.js';
import { layerKind, parseDeliveryName } from '../pipeline/ingest/delivery-names.js';
import { openDeliveries, scanDeliveries } from '../pipeline/ingest/deliveries.js';
import { ignAreasByCommune } from '../pipeline/indicators/ign-difference.js';
import { OUTPUT_MARKER } from '../pipeline/core/output-checks.js';
import { query } from './helpers/db.js';
import { capture, tempDir } from './ingest-helpers.js';

let dir: string;
let generated: IgnDeliveryResult;
/** As a user would have them: 67 as downloaded, 57 nested with its 2022 millésime extracted, without ARTIFICIALISATION. */
let downloads: string;
/** The same vintages extracted by hand, for the equivalent DEP:YEAR=PATH run. */
let byHand: string;

const archive = (pattern: RegExp): string => {
  const name = readdirSync(generated.dir).find((f) => pattern.test(f));
  if (!name) throw new Error(`no archive matches ${pattern}`);
  return path.join(generated.dir, name);
};

const extract = (file: string, into: string): void => void execFileSync('7zz', ['x', '-y', '-bd', `-o${into}`, file], { stdio: 'ignore' });

/** The only file named `name` under `root`. */
function findFile(root: string, name: string): string {
  const found = readdirSync(root, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name === name);
  if (found.length !== 1) throw new Error(`${found.length} files named ${name} under ${root}`);
  return path.join(found[0]!.parentPath, found[0]!.name);
}

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = capture();
  const code = await runCli(args, c.io);
  return { code, out: c.out(), err: c.err() };
}

beforeAll(async () => {
  dir = tempDir('ocs-zan-ocsge-');
  generated = await generateIgnDeliveries({ out: path.join(dir, 'ign'), deps: ['67', '57'], communesPerDep: 2, discrepancy: '67' });
  downloads = path.join(dir, 'downloads');
  mkdirSync(path.join(downloads, 'bas-rhin'), { recursive: true });
  mkdirSync(path.join(downloads, 'moselle', 'ocsge'), { recursive: true });
  for (const file of readdirSync(generated.dir).filter((f) => f.endsWith('.7z'))) {
    if (/D067/.test(file)) copyFileSync(path.join(generated.dir, file), path.join(downloads, 'bas-rhin', file));
    else if (!/ARTIFICIALISATION/.test(file)) copyFileSync(path.join(generated.dir, file), path.join(downloads, 'moselle', 'ocsge', file));
  }
  const moselle2022 = path.join(downloads, 'moselle', 'ocsge', 'OCS-GE_2-0__SHP_LAMB93_D057_2022-01-01.7z');
  extract(moselle2022, path.join(downloads, 'moselle', 'ocsge'));
  rmSync(moselle2022);

  byHand = path.join(dir, 'by-hand');
  for (const [key, pattern] of [
    ['67-2018', /^OCS-GE-ARTIFICIALISATION_2-0__GPKG_LAMB93_D067_2018/],
    ['67-2021', /^OCS-GE-ARTIFICIALISATION_2-0__GPKG_LAMB93_D067_2021/],
    ['57-2018', /^OCS-GE_2-0__SHP_LAMB93_D057_2018/],
    ['57-2022', /^OCS-GE_2-0__SHP_LAMB93_D057_2022/],
  ] as const) {
    extract(archive(pattern), path.join(byHand, key));
  }
}, 300_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('delivery names', () => {
  it('reads product, département, millésimes, format and CRS from every IGN naming form', () => {
    expect(parseDeliveryName('OCS-GE_2-0__GPKG_LAMB93_D067_2021-01-01.7z')).toEqual({ product: 'ocsge', departement: '67', years: [2021], format: 'GPKG', crs: 'LAMB93' });
    expect(parseDeliveryName('OCSGE_2-0_SHP_LAMB93_D57-2018')).toEqual({ product: 'ocsge', departement: '57', years: [2018], format: 'SHP', crs: 'LAMB93' });
    expect(parseDeliveryName('OCS-GE_2-0__SHP_LAMB93_D075_DIFF_2018-2021.7z')).toMatchObject({ product: 'diff', departement: '75', years: [2018, 2021] });
    expect(parseDeliveryName('OCS-GE_2-0_DIFF_SHP_LAMB93_D094_2018-2021.7z')).toMatchObject({ product: 'diff', departement: '94', years: [2018, 2021] });
    expect(parseDeliveryName('OCS-GE-ARTIFICIALISATION_2-0__GPKG_LAMB93_D02A_2021-01-01.7z')).toMatchObject({ product: 'artif', departement: '2A', years: [2021] });
    expect(parseDeliveryName('OCS-GE-ARTIFICIALISATION_2-0_DIFF-2018-2021_GPKG_LAMB93_D034_2025-09-16.7z')).toMatchObject({ product: 'zan_evol', departement: '34', years: [2018, 2021] });
    expect(parseDeliveryName('OCS-GE_2-0__GPKG_RGAF09UTM20_D971_2020-01-01.7z')).toMatchObject({ departement: '971', crs: 'RGAF09UTM20' });
    expect(parseDeliveryName('BDTOPO_3-0_TOUSTHEMES_GPKG_LAMB93_D067_2021-03-15.7z')).toBeNull();
    expect([layerKind('OCCUPATION_SOL.shp'), layerKind('artif_2021_67.gpkg'), layerKind('zan_evol_2018_2021_67.gpkg'), layerKind('DIFF_2018_2021.SHP'), layerKind('OCCUPATION_SOL.dbf')]).toEqual([
      'occupation_sol', 'artif', 'zan_evol', 'diff', null,
    ]);
  });
});

describe('fixtures ign', () => {
  it('writes archives with IGN names, threshold-rule artif and a planted gap', () => {
    const names = readdirSync(generated.dir).sort();
    expect(names).toContain('OCS-GE_2-0__GPKG_LAMB93_D067_2018-01-01.7z');
    expect(names).toContain('OCS-GE_2-0__SHP_LAMB93_D057_DIFF_2018-2022.7z');
    expect(names).toContain('OCS-GE-ARTIFICIALISATION_2-0_DIFF-2018-2021_GPKG_LAMB93_D067_2025-09-16.7z');
    expect(names.filter((n) => n.endsWith('.7z'))).toHaveLength(12);
    expect(generated.vintages['67:2021']!.critSeuil).toBeGreaterThan(0);
    expect(generated.discrepancyM2).toBeGreaterThan(0);
    // Shapefiles carry upper-case fields, as IGN's do.
    const shp = findFile(path.join(byHand, '57-2018'), 'OCCUPATION_SOL.dbf');
    expect(readFileSync(shp).subarray(32, 43).toString('latin1').replace(/\0+$/, '')).toBe('ID');
  });
});

describe('--ocsge', () => {
  it('lists found, used and ignored deliveries with --dry-run, and stops', async () => {
    const { code, out } = await cli(['run', '--ocsge', downloads, '--dry-run']);
    expect(code).toBe(0);
    expect(out).toMatch(/^used +vintage 67:2018: bas-rhin\/OCS-GE-ARTIFICIALISATION_2-0__GPKG_LAMB93_D067_2018-01-01\.7z!.*artif_2018_67\.gpkg \(IGN's artif/m);
    expect(out).toMatch(/^used +vintage 57:2022: moselle\/ocsge\/OCS-GE_2-0__SHP_LAMB93_D057_2022-01-01\/.*OCCUPATION_SOL\.shp \(OCCUPATION_SOL alone: the CS×US matrix decides\)/m);
    expect(out).toMatch(/^ignored +vintage 67:2021: .*OCCUPATION_SOL\.gpkg \(the ARTIFICIALISATION product/m);
    expect(out).toMatch(/^used +zan_evol 67 2018→2021: .*cross-check only/m);
    expect(out).toMatch(/^ignored +zone_construite: /m);
    // The same from a config file (key ocsge, relative to the file), and a --cache inside the folder is not scanned.
    const config = path.join(dir, 'run.yml');
    writeFileSync(config, `ocsge: ${path.relative(dir, downloads)}\ncache: downloads/cache\n`);
    mkdirSync(path.join(downloads, 'cache', 'x', 'OCS-GE_2-0__GPKG_LAMB93_D067_2018-01-01'), { recursive: true });
    const fromConfig = await cli(['run', '--config', config, '--dry-run']);
    rmSync(path.join(downloads, 'cache'), { recursive: true });
    expect(fromConfig.code).toBe(0);
    expect(fromConfig.out).toBe(out);
  });

  it('extracts each archive once into the cache, keyed by its sha256', async () => {
    const scan = await scanDeliveries(downloads);
    const cacheDir = path.join(dir, 'cache');
    const first = await openDeliveries(scan, { workDir: path.join(dir, 'unused'), cacheDir });
    const second = await openDeliveries(scan, { workDir: path.join(dir, 'unused'), cacheDir });
    expect([first.extracted, first.cached, second.extracted, second.cached]).toEqual([6, 0, 0, 6]);
    expect(second.sources.map((s) => `${s.departement}:${s.year}`)).toEqual(['57:2018', '57:2022', '67:2018', '67:2021']);
    expect(readdirSync(cacheDir).every((name) => /^[0-9a-f]{64}$/.test(name))).toBe(true);
  });

  it('gives the same tables as the equivalent DEP:YEAR=PATH run, and cross-checks IGN difference layers', async () => {
    const territories = path.join(generated.dir, 'communes.gpkg');
    const common = ['--territories', territories, '--no-tiles', '--no-portraits', '--jobs', '1', '--quiet'];
    const fromDeliveries = path.join(dir, 'out-ocsge');
    const run = await cli(['run', '--ocsge', downloads, '--out', fromDeliveries, ...common]);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    const vintages = [
      `67:2018=${findFile(path.join(byHand, '67-2018'), 'artif_2018_67.gpkg')}#artif_2018_67`,
      `67:2021=${findFile(path.join(byHand, '67-2021'), 'artif_2021_67.gpkg')}#artif_2021_67`,
      `57:2018=${findFile(path.join(byHand, '57-2018'), 'OCCUPATION_SOL.shp')}`,
      `57:2022=${findFile(path.join(byHand, '57-2022'), 'OCCUPATION_SOL.shp')}`,
    ];
    const fromPaths = path.join(dir, 'out-paths');
    expect((await cli(['run', ...vintages.flatMap((v) => ['--vintage', v]), '--out', fromPaths, ...common])).code).toBe(0);

    const csv = (out: string, table: string): string => readFileSync(path.join(out, 'csv', `${table}.csv`), 'utf8');
    const tables = readdirSync(path.join(fromPaths, 'csv')).filter((f) => f.endsWith('.csv')).map((f) => f.replace(/\.csv$/, ''));
    for (const table of tables.filter((t) => t !== 'run_metadata' && t !== 'check_ign_difference')) {
      expect(csv(fromDeliveries, table), table).toBe(csv(fromPaths, table));
    }

    const db = path.join(fromDeliveries, 'ocs.duckdb');
    const rules = await query(db, `SELECT p.commune_code[1:2] AS dep, c.artif_rule, count(*)::INTEGER AS n FROM piece_class c JOIN piece p USING (piece_id) GROUP BY ALL ORDER BY ALL`);
    // 57 has OCCUPATION_SOL alone: the matrix decides, corrected by the décret's threshold rules (issue 9).
    expect(rules.map((r) => `${String(r.dep)} ${String(r.artif_rule)}`)).toEqual(['57 matrix', '57 threshold', '67 official']);

    const checks = await query(db, `SELECT * FROM check_ign_difference WHERE level IN ('commune', 'departement') ORDER BY level, code, period, measure`);
    const gaps = checks.filter((r) => r.diff_m2 !== 0);
    const planted = Math.round(generated.discrepancyM2 * 100) / 100;
    expect(gaps.map((r) => [r.level, String(r.code).slice(0, 2), r.period, r.measure, r.diff_m2])).toEqual([
      ['commune', '67', '2018-2021', 'artificialisation', expect.closeTo(planted, 2)],
      ['departement', '67', '2018-2021', 'artificialisation', expect.closeTo(planted, 2)],
    ]);
    // Without 57's zan_evol, only its DIFF is compared; everything else matches to the cm².
    expect(new Set(checks.filter((r) => String(r.code).startsWith('57')).map((r) => r.measure))).toEqual(new Set(['cs_us_change']));
    expect(checks.filter((r) => r.measure === 'cs_us_change').every((r) => (r.ours_m2 as number) > 0)).toBe(true);

    const summary = JSON.parse(readFileSync(path.join(fromDeliveries, 'run-summary.json'), 'utf8')) as { ignGaps: Array<{ diff_m2: number }> };
    expect(summary.ignGaps).toHaveLength(1);
    const metadata = await query(db, `SELECT value FROM run_metadata WHERE key = 'ocsge.deliveries'`);
    expect(String(metadata[0]!.value)).toContain('"used","vintage 67:2018"');
    // No extracted deliveries left: the only hidden files are ocs-zan's output markers.
    expect(readdirSync(fromDeliveries).filter((name) => name.startsWith('.') && !name.endsWith(OUTPUT_MARKER))).toEqual([]);

    const portraits = await cli(['portraits', '--db', db, '--out', path.join(dir, 'portraits'), '--code', gaps[0]!.code as string, '--quiet']);
    expect(portraits.code).toBe(0);
    const note = readFileSync(path.join(dir, 'portraits', 'md', `commune-${String(gaps[0]!.code)}.md`), 'utf8');
    expect(note).toMatch(/Contrôle croisé avec les couches de différence de l’IGN.*plus grand écart : artificialisation 2018-2021/);
  });

  it('reads zan_evol from a Shapefile, whose artificialisation field DBF cuts to ARTIFICIAL', async () => {
    const scan = await scanDeliveries(generated.dir);
    const { checks } = await openDeliveries(scan, { workDir: path.join(dir, 'shp-check') });
    const check = checks.find((c) => c.departement === '57' && c.product === 'zan_evol')!;
    const ds = gdal.open(check.path);
    const layer = ds.layers.get(check.layer);
    expect(layer.fields.getNames()).toContain('ARTIFICIAL');
    let expected = 0;
    for (const f of layer.features) if (f.fields.get('ARTIFICIAL') === 1) expected += (f.getGeometry() as gdal.MultiPolygon).getArea();
    ds.close();
    const communes = gdal.open(path.join(generated.dir, 'communes.gpkg'));
    const rows = communes.layers.get('communes').features.map((f) => ({ code: String(f.fields.get('code')), departement: String(f.fields.get('code')).slice(0, 2), geomWkb: f.getGeometry()!.toWKB() as Uint8Array }));
    communes.close();
    const areas = ignAreasByCommune([check], rows).filter((r) => r.measure === 'artificialisation');
    expect(areas).toHaveLength(2);
    expect(areas.reduce((sum, r) => sum + r.ign_m2, 0)).toBeCloseTo(expected, 3);
    expect(expected).toBeGreaterThan(0);
  });

  it('refuses a corrupt, truncated or password-protected archive, or one without OCCUPATION_SOL, naming it (exit 2)', async () => {
    const cases: Array<[string, (file: string) => void, RegExp]> = [
      ['truncated', (file) => truncateSync(file, 2000), /corrupt or truncated archive/],
      ['corrupt', (file) => {
        const bytes = readFileSync(file);
        for (let i = 200; i < 1200; i++) bytes[i] = bytes[i]! ^ 0x5a;
        writeFileSync(file, bytes);
      }, /corrupt or truncated archive/],
      ['password', (file) => {
        const stage = path.join(path.dirname(file), 'stage');
        extract(file, stage);
        rmSync(file);
        execFileSync('7zz', ['a', '-bd', '-psecret', file, '.'], { cwd: stage, stdio: 'ignore' });
        rmSync(stage, { recursive: true });
      }, /password-protected archive/],
      ['no OCCUPATION_SOL', (file) => {
        const stage = path.join(path.dirname(file), 'stage');
        extract(file, stage);
        rmSync(findFile(stage, 'OCCUPATION_SOL.gpkg'));
        rmSync(file);
        execFileSync('7zz', ['a', '-bd', file, '.'], { cwd: stage, stdio: 'ignore' });
        rmSync(stage, { recursive: true });
      }, /no OCCUPATION_SOL layer in this OCS GE delivery/],
    ];
    for (const [label, spoil, message] of cases) {
      const folder = path.join(dir, `bad-${label.replace(/\W/g, '-')}`);
      mkdirSync(folder);
      const file = path.join(folder, 'OCS-GE_2-0__GPKG_LAMB93_D067_2018-01-01.7z');
      copyFileSync(archive(/^OCS-GE_2-0__GPKG_LAMB93_D067_2018/), file);
      spoil(file);
      const out = path.join(dir, `out-bad-${label.replace(/\W/g, '-')}`);
      const { code, err } = await cli(['ingest', '--ocsge', folder, '--out', out, '--quiet']);
      expect(code, label).toBe(2);
      expect(err, label).toContain(file);
      expect(err, label).toMatch(message);
      expect(err.trimEnd().split('\n'), label).toHaveLength(1);
      expect(readdirSync(dir).filter((name) => name.startsWith(`out-bad-`) || name.startsWith('.out-bad'))).toEqual([]);
    }
  });

  it('refuses overseas deliveries (UTM) with a clear message', async () => {
    const folder = path.join(dir, 'overseas');
    mkdirSync(folder);
    const file = path.join(folder, 'OCS-GE_2-0__GPKG_RGAF09UTM20_D971_2020-01-01.7z');
    copyFileSync(archive(/^OCS-GE_2-0__GPKG_LAMB93_D067_2018/), file);
    const { code, err } = await cli(['ingest', '--ocsge', folder, '--out', path.join(dir, 'out-overseas'), '--quiet']);
    expect(code).toBe(2);
    expect(err).toContain(file);
    expect(err).toMatch(/overseas delivery in RGAF09UTM20: areas are computed in Lambert-93 only/);
  });
});
