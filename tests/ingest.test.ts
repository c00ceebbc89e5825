import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import gdal from 'gdal-async';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { ingestVintages, parseVintageSpec } from '../pipeline/ingest/index.js';
import { UserError } from '../pipeline/core/errors.js';
import { createLogger } from '../pipeline/core/log.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { STAGED_FIELDS, type StageManifest } from '../pipeline/core/types.js';
import { capture, dumpFgb, ocsFeatures, tempDir, writeOcs, type TestFeature } from './ingest-helpers.js';

let dir: string;
let source: string;

beforeAll(() => {
  dir = tempDir();
  source = writeOcs(path.join(dir, 'ocs.gpkg'), { ocsge_2010: ocsFeatures(2010), ocsge_2019: ocsFeatures(2019) });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const readManifest = (stage: string): StageManifest => JSON.parse(readFileSync(path.join(stage, 'manifest.json'), 'utf8')) as StageManifest;

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = capture();
  const code = await runCli(['ingest', '--quiet', ...args], c.io);
  return { code, out: c.out(), err: c.err() };
}

/** Asserts a one-line user error (exit 2, no stack) and that no stage directory was left. */
async function expectUserError(args: string[], stage: string, pattern: RegExp): Promise<string> {
  const { code, err } = await cli([...args, '--out', stage]);
  expect(code).toBe(2);
  expect(err.trimEnd().split('\n')).toHaveLength(1);
  expect(err).not.toMatch(/\n\s+at /);
  expect(err).toMatch(pattern);
  expect(existsSync(stage)).toBe(false);
  expect(readdirSync(path.dirname(stage)).filter((name) => name.startsWith(`.${path.basename(stage)}.tmp`))).toEqual([]);
  return err;
}

describe('parseVintageSpec', () => {
  it('reads YEAR=PATH#layer and DEP:YEAR=PATH', () => {
    expect(parseVintageSpec('2019=a/b.gpkg#ocsge_2019')).toEqual({ year: 2019, departement: null, path: 'a/b.gpkg', layer: 'ocsge_2019' });
    expect(parseVintageSpec('67:2018=x.shp')).toEqual({ year: 2018, departement: '67', path: 'x.shp' });
    expect(parseVintageSpec('2a:2021=x.fgb').departement).toBe('2A');
  });
  it('rejects a bad spec with a UserError', () => {
    expect(() => parseVintageSpec('x.gpkg')).toThrow(UserError);
    expect(() => parseVintageSpec('19=x.gpkg')).toThrow(/bad vintage '19=x.gpkg'/);
  });
});

describe('ingest per vintage', () => {
  it('stages classified, repaired, exploded polygons and a manifest', async () => {
    const stage = path.join(dir, 'stage-basic');
    const { code, out } = await cli(['--vintage', `2010=${source}#ocsge_2010`, '--vintage', `2019=${source}#ocsge_2019`, '--out', stage]);
    expect(code).toBe(0);
    expect(readdirSync(stage).sort()).toEqual(['.ocs-zan-output', 'manifest.json', 'vintage-2010.fgb', 'vintage-2019.fgb']);
    const manifest = readManifest(stage);
    expect(manifest.crs).toBe('EPSG:2154');
    expect(manifest.profile).toBe('ocsge');
    const [v2010, v2019] = manifest.vintages;
    expect(v2010).toMatchObject({ year: 2010, departement: null, key: '2010', path: 'vintage-2010.fgb', features: 7, areaM2: 170_000 });
    expect(v2010!.source).toMatchObject({ path: source, layer: 'ocsge_2010', crs: 'EPSG:2154' });
    expect(v2010!.source.sha256).toMatch(/^[0-9a-f]{64}$/);
    // Bow-tie repaired into two triangles (counted as exploded too), multipolygon exploded, empty geometry dropped.
    expect(v2010!.repairs).toMatchObject({ invalid_repaired: 1, empty_dropped: 1, multipart_exploded: 2, duplicate_ids: 0, unclassified_features: 0 });
    expect(v2010!.countsByCategory).toEqual({ '1': 10_000, '2': 5_000, '7': 130_000, '8': 25_000 });
    expect(v2019!.countsByCategory).toEqual({ '1': 50_000, '2': 5_000, '7': 90_000, '8': 25_000 });
    expect(out).toMatch(/vintage 2010: 7 polygons, 17\.00 ha, repairs: invalid_repaired=1/);
    expect(out).toMatch(/^1\s+1\.00\s+5\.00$/m);
    expect(out).toMatch(/^total\s+17\.00\s+17\.00$/m);

    const staged = gdal.open(path.join(stage, 'vintage-2019.fgb'));
    const layer = staged.layers.get(0);
    expect(layer.fields.getNames()).toEqual(Object.keys(STAGED_FIELDS));
    expect(layer.geomType).toBe(gdal.wkbPolygon);
    expect(layer.srs?.getAuthorityCode(null)).toBe('2154');
    expect(layer.testCapability(gdal.OLCFastSpatialFilter)).toBe(true);
    const a2 = layer.features.map((f) => f.fields.toObject()).find((f) => f['src_id'] === 'A2');
    expect(a2).toEqual({
      src_id: 'A2',
      code_cs: 'CS1.1.1.1',
      code_us: 'US2',
      category: 1,
      artif: 1,
      artif_rule: 'matrix',
      sealed: 1,
      enaf: 'urban',
      destination: 'activite',
      area_m2: 40_000,
    });
    staged.close();
  });

  it('is deterministic: same input, same staged bytes', async () => {
    const runs = ['det-a', 'det-b'].map((name) => path.join(dir, name));
    for (const stage of runs) expect((await cli(['--vintage', `2019=${source}#ocsge_2019`, '--out', stage])).code).toBe(0);
    const [a, b] = runs.map((stage) => readFileSync(path.join(stage, 'vintage-2019.fgb')));
    expect(a!.equals(b!)).toBe(true);
    expect(readFileSync(path.join(runs[0]!, 'manifest.json'), 'utf8')).toBe(readFileSync(path.join(runs[1]!, 'manifest.json'), 'utf8'));
  });

  it('refuses to overwrite without --force, and overwrites with it', async () => {
    const stage = path.join(dir, 'stage-force');
    const args = ['--vintage', `2019=${source}#ocsge_2019`, '--out', stage];
    expect((await cli(args)).code).toBe(0);
    const again = await cli(args);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/output already exists \(pass --force/);
    expect((await cli([...args, '--force'])).code).toBe(0);
  });

  it('accepts GeoJSON, Shapefile (file and directory) and FlatGeobuf with the same staged content', async () => {
    const reference = path.join(dir, 'fmt-gpkg');
    expect((await cli(['--vintage', `2019=${source}#ocsge_2019`, '--out', reference])).code).toBe(0);
    // Shapefiles store outer rings clockwise: compare attributes, areas and extents, not vertex order.
    const expected = dumpFgb(path.join(reference, 'vintage-2019.fgb'), { geometry: 'envelope' });
    const shpDir = path.join(dir, 'shp');
    const inputs = {
      geojson: path.join(dir, 'ocs.geojson'),
      fgb: path.join(dir, 'ocs.fgb'),
      shp: path.join(shpDir, 'ocsge_2019.shp'),
      shpdir: shpDir,
    };
    ogr2ogr(['-f', 'GeoJSON', '-lco', 'RFC7946=NO', inputs.geojson, source, 'ocsge_2019']);
    ogr2ogr(['-f', 'FlatGeobuf', inputs.fgb, source, 'ocsge_2019']);
    ogr2ogr(['-f', 'ESRI Shapefile', shpDir, source, 'ocsge_2019']);
    for (const [format, input] of Object.entries(inputs)) {
      const stage = path.join(dir, `fmt-${format}`);
      const run = await cli(['--vintage', `2019=${input}`, '--out', stage]);
      expect(run.err, format).toBe('');
      expect(run.code, format).toBe(0);
      expect(dumpFgb(path.join(stage, 'vintage-2019.fgb'), { geometry: 'envelope' }), format).toBe(expected);
    }
  });

  it('takes the official IGN artif field over the matrix', async () => {
    const file = writeOcs(path.join(dir, 'artif.gpkg'), { occupation_sol: ocsFeatures(2019) }, { extraFields: { ARTIF: (f) => (f.id === 'A6' ? 'artif' : '') } });
    const manifest = await ingestVintages([{ year: 2019, departement: null, path: file }], { stageDir: path.join(dir, 'stage-artif') });
    const staged = gdal.open(path.join(dir, 'stage-artif', manifest.vintages[0]!.path));
    const a6 = staged.layers.get(0).features.map((f) => f.fields.toObject()).find((f) => f['src_id'] === 'A6');
    staged.close();
    expect(a6).toMatchObject({ artif: 1, artif_rule: 'official' });
  });

  it('reads a single-code regional source through a profile and --field role=name', async () => {
    const regional: Record<string, string> = { A1: '1111', A2: '1121', A3: '3111', A4: '1131', A5: '2111', A6: '2111' };
    const file = writeOcs(path.join(dir, 'regional.gpkg'), { ocs: ocsFeatures(2019) }, { extraFields: { NIV4: (f) => regional[f.id]! } });
    const stage = path.join(dir, 'stage-regional');
    const run = await cli(['--vintage', `2019=${file}`, '--profile', 'example-regional', '--field', 'code=niv4', '--out', stage]);
    expect(run.code).toBe(0);
    const manifest = readManifest(stage);
    expect(manifest.profile).toBe('example-regional');
    expect(manifest.vintages[0]!.countsByCategory).toEqual({ '1': 50_000, '2': 5_000, '7': 90_000, '8': 25_000 });
    await expectUserError(['--vintage', `2019=${file}`, '--profile', 'example-regional', '--field', 'cs=NIV4'], path.join(dir, 'stage-badrole'), /profile example-regional has no role cs \(its roles are code\)/);
  });

  it('documents every option in --help', async () => {
    const c = capture();
    expect(await runCli(['ingest', '--help'], c.io)).toBe(0);
    for (const flag of ['--vintage', '--multi-date', '--out', '--profile', '--cs-field', '--us-field', '--field', '--assume-crs', '--unknown-codes', '--force', '--quiet']) {
      expect(c.out()).toContain(flag);
    }
  });

  it('counts duplicate IDs', async () => {
    const features = ocsFeatures(2019).map((f) => (f.id === 'A6' ? { ...f, id: 'A1' } : f));
    const file = writeOcs(path.join(dir, 'dup.gpkg'), { ocs: features });
    const manifest = await ingestVintages([{ year: 2019, departement: null, path: file }], { stageDir: path.join(dir, 'stage-dup') });
    expect(manifest.vintages[0]!.repairs['duplicate_ids']).toBe(1);
  });
});

describe('ingest overlap check on a larger vintage', () => {
  it('resolves an overlap between polygons far apart in staged order (the earlier one read again from the file)', async () => {
    // 10,000 squares of 5 m on a 10 m grid, and a strip along the gaps of the bottom row whose notch reaches into
    // the square at x = 890 m: the strip's box centre (x = 450 m) and the square are in opposite quarters of the
    // Hilbert order, farther apart than the overlap check keeps polygons in memory.
    const square = (x: number, y: number): string => `POLYGON((${1_050_000 + x} ${6_840_000 + y},${1_050_005 + x} ${6_840_000 + y},${1_050_005 + x} ${6_840_005 + y},${1_050_000 + x} ${6_840_005 + y},${1_050_000 + x} ${6_840_000 + y}))`;
    const features: TestFeature[] = [];
    for (let n = 0; n < 10_000; n++) features.push({ id: `S${n}`, cs: 'CS2.2.1', us: 'US1.1', wkt: square((n % 100) * 10, Math.floor(n / 100) * 10) });
    const [x0, y0] = [1_050_000, 6_840_000];
    const strip = [[0, 6], [891, 6], [891, 4], [893, 4], [893, 6], [900, 6], [900, 9], [0, 9], [0, 6]].map(([x, y]) => `${x0 + x!} ${y0 + y!}`);
    features.push({ id: 'STRIP', cs: 'CS1.1.1.1', us: 'US5', wkt: `POLYGON((${strip.join(',')}))` });
    const file = writeOcs(path.join(dir, 'far-overlap.gpkg'), { ocs: features });
    const manifest = await ingestVintages([{ year: 2019, departement: null, path: file }], { stageDir: path.join(dir, 'stage-far-overlap') });
    const vintage = manifest.vintages[0]!;
    expect(vintage.repairs['overlaps_resolved']).toBe(1);
    expect(vintage.repairs['overlap_area_m2']).toBeCloseTo(2, 6);
    expect(vintage.areaM2).toBeCloseTo(10_000 * 25 + (900 * 3 + 2 * 2) - 2, 6);
    const staged = gdal.open(path.join(dir, 'stage-far-overlap', vintage.path));
    const order = staged.layers.get(0).features.map((f) => String(f.fields.get('src_id')));
    staged.close();
    expect(Math.abs(order.indexOf('S89') - order.indexOf('STRIP'))).toBeGreaterThan(4096);
  });
});

describe('ingest overlap check of a near duplicate', () => {
  it('resolves a polygon delivered twice with vertices 1e-9 m apart (the touch test must not clear it)', async () => {
    const ring = (points: number[][]): string => `POLYGON((${[...points, points[0]!].map(([x, y]) => `${x} ${y}`).join(',')}))`;
    const first = [[1033684.3865364462, 6835648.4989398792], [1033686.6683219715, 6835648.9821145851], [1033662.2013593231, 6835477.6173245264], [1033467.2883757947, 6835459.765524203]];
    const again = [[1033684.3865364449, 6835648.4989398792], [1033467.2883757942, 6835459.765524203], [1033662.2013593231, 6835477.6173245264], [1033686.6683219715, 6835648.9821145851]];
    const file = writeOcs(path.join(dir, 'near-duplicate.gpkg'), {
      ocs: [
        { id: 'A', cs: 'CS2.2.1', us: 'US1.1', wkt: ring(first) },
        { id: 'B', cs: 'CS2.2.1', us: 'US1.1', wkt: ring(again) },
      ],
    });
    const manifest = await ingestVintages([{ year: 2019, departement: null, path: file }], { stageDir: path.join(dir, 'stage-near-duplicate') });
    const vintage = manifest.vintages[0]!;
    expect(vintage.repairs['overlaps_resolved']).toBe(1);
    expect(vintage.areaM2).toBeCloseTo(16645.098, 3);
  });
});

describe('ingest reprojection', () => {
  it('reads a WGS84 GeoJSON twin of a Lambert-93 layer with the same areas (0.01 %)', async () => {
    const wgs84 = path.join(dir, 'ocs-wgs84.geojson');
    ogr2ogr(['-f', 'GeoJSON', '-t_srs', 'EPSG:4326', '-lco', 'COORDINATE_PRECISION=10', wgs84, source, 'ocsge_2019']);
    const stage = path.join(dir, 'stage-wgs84');
    expect((await cli(['--vintage', `2019=${wgs84}`, '--out', stage])).code).toBe(0);
    const vintage = readManifest(stage).vintages[0]!;
    expect(vintage.source.crs).toBe('EPSG:4326');
    expect(Math.abs(vintage.areaM2 - 170_000) / 170_000).toBeLessThan(1e-4);
    for (const [category, area] of Object.entries({ '1': 50_000, '2': 5_000, '7': 90_000, '8': 25_000 })) {
      expect(Math.abs(vintage.countsByCategory[category]! - area) / area).toBeLessThan(1e-4);
    }
    // Lon/lat read in the right order: the staged polygons sit where the Lambert-93 ones do.
    const staged = gdal.open(path.join(stage, 'vintage-2019.fgb'));
    const extent = staged.layers.get(0).getExtent();
    staged.close();
    expect(extent.minX).toBeCloseTo(1_050_000, -1);
    expect(extent.minY).toBeCloseTo(6_840_000, -1);
  });

  it('refuses a layer without CRS unless --assume-crs is given', async () => {
    const shp = path.join(dir, 'nocrs', 'ocs.shp');
    mkdirSync(path.dirname(shp));
    ogr2ogr(['-f', 'ESRI Shapefile', shp, source, 'ocsge_2019']);
    rmSync(shp.replace(/\.shp$/, '.prj'));
    await expectUserError(['--vintage', `2019=${shp}`], path.join(dir, 'stage-nocrs'), /ocs\.shp, layer ocs: the layer declares no CRS \(pass --assume-crs EPSG:2154/);
    const stage = path.join(dir, 'stage-assumed');
    expect((await cli(['--vintage', `2019=${shp}`, '--assume-crs', 'EPSG:2154', '--out', stage])).code).toBe(0);
    expect(readManifest(stage).vintages[0]!.source.crs).toBe('EPSG:2154 (assumed)');
  });

  it('refuses coordinates that are not in the declared CRS', async () => {
    // Lambert-93 coordinates written as GeoJSON without a CRS member: GeoJSON means WGS84.
    const geojson = path.join(dir, 'wrong-crs.geojson');
    ogr2ogr(['-f', 'GeoJSON', '-a_srs', 'EPSG:4326', geojson, source, 'ocsge_2019']);
    await expectUserError(['--vintage', `2019=${geojson}`], path.join(dir, 'stage-wrongcrs'), /coordinates are not in the declared CRS EPSG:4326: .* are not degrees \(assign the right CRS/);
    // Degrees declared as Lambert-93.
    const degrees = path.join(dir, 'degrees-as-l93.gpkg');
    const wgs84 = path.join(dir, 'degrees.geojson');
    ogr2ogr(['-f', 'GeoJSON', '-t_srs', 'EPSG:4326', wgs84, source, 'ocsge_2019']);
    ogr2ogr(['-f', 'GPKG', '-a_srs', 'EPSG:2154', degrees, wgs84]);
    await expectUserError(['--vintage', `2019=${degrees}`], path.join(dir, 'stage-degrees'), /declared CRS EPSG:2154: .* outside metropolitan France/);
  });
});

describe('ingest multi-date layer', () => {
  it('stages the same content as the per-vintage layers', async () => {
    const [f2010, f2019] = [ocsFeatures(2010), ocsFeatures(2019)];
    // One layer, one code column per vintage (names in mixed case and candidates, as deliveries vary).
    const multi = writeOcs(path.join(dir, 'multi.gpkg'), { ocs_multi: f2010 }, {
      extraFields: {
        code_cs_2010: (f) => f.cs ?? '',
        CODE_US_2010: (f) => f.us ?? '',
        couverture_2019: (f) => f2019.find((g) => g.id === f.id)!.cs ?? '',
        US_2019: (f) => f2019.find((g) => g.id === f.id)!.us ?? '',
      },
    });
    const perVintage = path.join(dir, 'stage-per-vintage');
    const multiDate = path.join(dir, 'stage-multi-date');
    expect((await cli(['--vintage', `2010=${source}#ocsge_2010`, '--vintage', `2019=${source}#ocsge_2019`, '--out', perVintage])).code).toBe(0);
    const run = await cli(['--multi-date', `${multi}#ocs_multi`, '--out', multiDate]);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    for (const year of [2010, 2019]) {
      expect(dumpFgb(path.join(multiDate, `vintage-${year}.fgb`))).toBe(dumpFgb(path.join(perVintage, `vintage-${year}.fgb`)));
    }
    const strip = (m: StageManifest) => m.vintages.map(({ source: _source, ...rest }) => rest);
    expect(strip(readManifest(multiDate))).toEqual(strip(readManifest(perVintage)));

    const only2019 = path.join(dir, 'stage-multi-2019');
    expect((await cli(['--multi-date', `${multi}#ocs_multi`, '--vintage', '2019', '--out', only2019])).code).toBe(0);
    expect(readManifest(only2019).vintages.map((v) => v.key)).toEqual(['2019']);
    await expectUserError(['--multi-date', `${multi}#ocs_multi`, '--vintage', '2022'], path.join(dir, 'stage-multi-2022'), /no code columns for 2022 \(the layer has vintages 2010, 2019\)/);
  });
});

describe('ingest user errors', () => {
  const feature = (over: Partial<TestFeature>): TestFeature[] => ocsFeatures(2019).map((f) => (f.id === 'A2' ? { ...f, ...over } : f));

  it('lists unknown codes with counts and an example, or stages them as unclassified with --unknown-codes=report', async () => {
    const file = writeOcs(path.join(dir, 'unknown.gpkg'), { ocs: feature({ cs: 'CS9.9' }) });
    const err = await expectUserError(['--vintage', `2019=${file}`], path.join(dir, 'stage-unknown'), /unknown\.gpkg, layer ocs: 1 unknown or missing code: CS9\.9 × US2 \(1 feature, e\.g\. feature A2\)/);
    expect(err).toMatch(/map them in a profile .*--unknown-codes=report/);
    const stage = path.join(dir, 'stage-unknown-report');
    expect((await cli(['--vintage', `2019=${file}`, '--unknown-codes', 'report', '--out', stage])).code).toBe(0);
    const vintage = readManifest(stage).vintages[0]!;
    expect(vintage.repairs['unclassified_features']).toBe(1);
    expect(vintage.countsByCategory['0']).toBe(40_000);
  });

  it('reports a fault met while copying in a worker process like one met in this process', async () => {
    // Two vintages on two jobs: each is copied by a worker, and the faulty copy stops the run before any check.
    const file = writeOcs(path.join(dir, 'unknown-two.gpkg'), { ocs2010: ocsFeatures(2010), ocs2019: feature({ cs: 'CS9.9' }) });
    const args = ['--vintage', `2010=${file}#ocs2010`, '--vintage', `2019=${file}#ocs2019`, '--jobs', '2'];
    await expectUserError(args, path.join(dir, 'stage-unknown-two'), /unknown-two\.gpkg, layer ocs2019: 1 unknown or missing code: CS9\.9 × US2/);
  });

  it('names missing codes <missing>', async () => {
    const file = writeOcs(path.join(dir, 'missing.gpkg'), { ocs: feature({ us: null }) });
    await expectUserError(['--vintage', `2019=${file}`], path.join(dir, 'stage-missing'), /CS1\.1\.1\.1 × <missing> \(1 feature, e\.g\. feature A2\)/);
  });

  it('names the layer fields when a code field is missing, and honours --cs-field', async () => {
    const file = writeOcs(path.join(dir, 'fields.gpkg'), { ocs: ocsFeatures(2019) }, { extraFields: { NIV4: (f) => f.cs ?? '' } });
    await expectUserError(['--vintage', `2019=${file}`, '--cs-field', 'nope'], path.join(dir, 'stage-fields'), /no cs code field \(looked for nope\) \(the layer's fields are ID, CODE_CS, CODE_US, NIV4/);
    expect((await cli(['--vintage', `2019=${file}`, '--cs-field', 'niv4', '--out', path.join(dir, 'stage-niv4')])).code).toBe(0);
  });

  it('asks to choose a layer when several polygon layers exist', async () => {
    await expectUserError(['--vintage', `2019=${source}`], path.join(dir, 'stage-layers'), /2 polygon layers \(ocsge_2010, ocsge_2019\) \(choose one with PATH#layer\)/);
    await expectUserError(['--vintage', `2019=${source}#nope`], path.join(dir, 'stage-nolayer'), /no layer named nope \(layers are: ocsge_2010, ocsge_2019\)/);
  });

  it('reports a truncated or missing file by name, without a stack', async () => {
    const fgb = path.join(dir, 'truncated.fgb');
    ogr2ogr(['-f', 'FlatGeobuf', fgb, source, 'ocsge_2019']);
    truncateSync(fgb, Math.floor(statSync(fgb).size * 0.6));
    await expectUserError(['--vintage', `2019=${fgb}`], path.join(dir, 'stage-truncated'), /truncated\.fgb.*(cannot read|truncated)/);
    await expectUserError(['--vintage', `2019=${path.join(dir, 'absent.gpkg')}`], path.join(dir, 'stage-absent'), /absent\.gpkg: file not found/);
  });

  it('checks every vintage before writing anything', async () => {
    const copy = path.join(dir, 'copy.gpkg');
    copyFileSync(source, copy);
    await expectUserError(
      ['--vintage', `2010=${copy}#ocsge_2010`, '--vintage', `2019=${copy}#ocsge_2019`, '--vintage', '2022=nowhere.gpkg'],
      path.join(dir, 'stage-preflight'),
      /nowhere\.gpkg: file not found/,
    );
  });
});

describe('ingest dirty fixtures (fixtures/dirty, one fault each)', () => {
  const dirty = (name: string): string => path.join(PROJECT_ROOT, 'fixtures', 'dirty', name);
  const errors: Array<[string, RegExp]> = [
    ['wrong-crs.geojson', /wrong-crs\.geojson, layer occupation_sol: coordinates are not in the declared CRS EPSG:4326: .*not degrees \(assign the right CRS/],
    ['no-crs.shp', /no-crs\.shp, layer no-crs: the layer declares no CRS \(pass --assume-crs/],
    ['missing-code.gpkg', /missing-code\.gpkg, layer occupation_sol: .*<missing> \(1 feature, e\.g\. feature OCSGE0000000003\).*--unknown-codes=report/],
    ['unknown-code.gpkg', /unknown-code\.gpkg, layer occupation_sol: .*CS9\.9 × \S+ \(1 feature, e\.g\. feature OCSGE0000000003\) \(map them in a profile/],
    ['truncated.fgb', /truncated\.fgb: cannot read the dataset: Failed to read header \(the file looks truncated or corrupt/],
    ['nan-coordinate.gpkg', /nan-coordinate\.gpkg, layer occupation_sol, feature OCSGE0000000003: a NaN or infinite coordinate/],
    ['infinite-coordinate.gpkg', /infinite-coordinate\.gpkg, layer occupation_sol, feature OCSGE0000000003: a NaN or infinite coordinate/],
    ['huge-coordinate.gpkg', /huge-coordinate\.gpkg, layer occupation_sol, feature OCSGE0000000003: coordinates x 1030100…1\.000e\+300, .*outside metropolitan France once in EPSG:2154 \(fix or remove this feature\)/],
    ['points.gpkg', /points\.gpkg, layer occupation_sol: vintage 2019: no polygon, 6 Point features \(name the polygon layer/],
    ['null-geometries.gpkg', /null-geometries\.gpkg, layer occupation_sol: vintage 2019: no polygon, 6 features without geometry/],
  ];
  for (const [name, pattern] of errors) {
    it(`${name}: one-line user error, no output`, async () => {
      await expectUserError(['--vintage', `2019=${dirty(name)}`], path.join(dir, `dirty-${name}`), pattern);
    });
  }
  const repaired: Array<[string, Record<string, number>, number]> = [
    ['invalid-ring.gpkg', { invalid_repaired: 1, multipart_exploded: 1 }, 7],
    ['empty-geometry.gpkg', { empty_dropped: 1 }, 5],
    ['duplicate-ids.gpkg', { duplicate_ids: 1 }, 6],
    // Feature 3 twice: the copy loses its whole 50 m × 40 m; feature 3 widened 20 m over feature 2: 20 m × 40 m.
    ['duplicate-feature.gpkg', { duplicate_ids: 1, overlaps_resolved: 1, overlap_area_m2: 2000 }, 6],
    ['overlap.gpkg', { overlaps_resolved: 1, overlap_area_m2: 800 }, 6],
    ['unclosed-ring.gpkg', { rings_closed: 1 }, 6],
  ];
  for (const [name, repairs, features] of repaired) {
    it(`${name}: repaired and counted`, async () => {
      const stage = path.join(dir, `dirty-${name}`);
      expect((await cli(['--vintage', `2019=${dirty(name)}`, '--out', stage])).code).toBe(0);
      const vintage = readManifest(stage).vintages[0]!;
      expect(vintage.repairs).toMatchObject(repairs);
      expect(vintage.features).toBe(features);
      // Overlaps are never double-counted: the staged vintage is the six parcels of 50 m × 40 m.
      if (repairs['overlaps_resolved']) expect(vintage.areaM2).toBeCloseTo(12_000, 6);
    });
  }
  it('stages missing and unknown codes as unclassified with --unknown-codes=report', async () => {
    for (const name of ['missing-code.gpkg', 'unknown-code.gpkg']) {
      const stage = path.join(dir, `dirty-report-${name}`);
      expect((await cli(['--vintage', `2019=${dirty(name)}`, '--unknown-codes', 'report', '--out', stage])).code).toBe(0);
      expect(readManifest(stage).vintages[0]!.repairs['unclassified_features']).toBe(1);
    }
  });
});

describe('ingest demo fixture (fixtures/data/demo.gpkg)', () => {
  const demo = path.join(PROJECT_ROOT, 'fixtures', 'data', 'demo.gpkg');

  it('stages the three vintages, and a multi-date conversion of them gives the same content', async () => {
    const perVintage = path.join(dir, 'demo-per-vintage');
    const run = await cli(['--vintage', `2010=${demo}#ocsge_2010`, '--vintage', `2019=${demo}#ocsge_2019`, '--vintage', `2022=${demo}#ocsge_2022`, '--out', perVintage]);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toMatch(/^total(\s+\d+\.\d\d){3}$/m);
    const manifest = readManifest(perVintage);
    expect(manifest.vintages.map((v) => v.key)).toEqual(['2010', '2019', '2022']);

    // Multi-date layer: the 2019 geometries with the 2019 and 2022 codes of the same ID as columns,
    // (first 1,500, to keep the test short) compared with the same features staged one layer per vintage.
    const multi = path.join(dir, 'demo-multi.gpkg');
    const sql = (select: string): string[] => ['-dialect', 'SQLite', '-sql', select];
    ogr2ogr(['-f', 'GPKG', '-nln', 'ocs', multi, demo, ...sql(
      'SELECT a.ID, a.CODE_CS AS code_cs_2019, a.CODE_US AS code_us_2019, b.CODE_CS AS CODE_CS_2022, b.CODE_US AS CODE_US_2022, a.geom FROM ocsge_2019 a JOIN ocsge_2022 b ON a.ID = b.ID ORDER BY a.fid LIMIT 1500',
    )]);
    const twin2022 = path.join(dir, 'demo-2022-on-2019.gpkg');
    ogr2ogr(['-f', 'GPKG', '-nln', 'ocs', twin2022, multi, ...sql('SELECT ID, CODE_CS_2022 AS CODE_CS, CODE_US_2022 AS CODE_US, geom FROM ocs ORDER BY fid')]);
    const twin2019 = path.join(dir, 'demo-2019.gpkg');
    ogr2ogr(['-f', 'GPKG', '-nln', 'ocs', twin2019, multi, ...sql('SELECT ID, code_cs_2019 AS CODE_CS, code_us_2019 AS CODE_US, geom FROM ocs ORDER BY fid')]);
    const multiStage = path.join(dir, 'demo-multi-stage');
    const twinStage = path.join(dir, 'demo-twin-stage');
    expect((await cli(['--multi-date', multi, '--out', multiStage])).code).toBe(0);
    expect((await cli(['--vintage', `2019=${twin2019}`, '--vintage', `2022=${twin2022}`, '--out', twinStage])).code).toBe(0);
    for (const year of [2019, 2022]) {
      expect(dumpFgb(path.join(multiStage, `vintage-${year}.fgb`))).toBe(dumpFgb(path.join(twinStage, `vintage-${year}.fgb`)));
    }
  });
});

describe('ingest jobs', () => {
  const demo = path.join(PROJECT_ROOT, 'fixtures', 'data', 'demo.gpkg');

  it('stages the same bytes whether one process copies and checks each vintage or workers share the steps', async () => {
    const vintages = [2010, 2019, 2022].flatMap((year) => ['--vintage', `${year}=${demo}#ocsge_${year}`]);
    const stages = ['1', '2', '3'].map((jobs) => ({ jobs, stage: path.join(dir, `demo-jobs-${jobs}`) }));
    for (const { jobs, stage } of stages) expect((await cli([...vintages, '--jobs', jobs, '--out', stage])).code).toBe(0);
    const files = (stage: string): Buffer[] => ['manifest.json', 'vintage-2010.fgb', 'vintage-2019.fgb', 'vintage-2022.fgb'].map((name) => readFileSync(path.join(stage, name)));
    const [sequential, ...workers] = stages.map(({ stage }) => files(stage));
    for (const staged of workers) staged.forEach((bytes, i) => expect(bytes.equals(sequential![i]!)).toBe(true));
  });

  // In EPSG:4326 too: GDAL's translation reprojects (-t_srs), the copy feature by feature as before (transform).
  for (const crs of ['EPSG:2154', 'EPSG:4326']) {
    it(`copies the same bytes from GDAL's translation as feature by feature (source in ${crs})`, async () => {
      const name = `demo-2019-${crs.replace(':', '-')}`;
      const source = path.join(dir, `${name}.gpkg`);
      ogr2ogr(['-f', 'GPKG', '-t_srs', crs, source, demo, 'ocsge_2019']);
      // GDAL's FlatGeobuf driver drops a feature with an empty geometry: that source is copied feature by feature.
      const withEmpty = path.join(dir, `${name}-with-empty.gpkg`);
      ogr2ogr(['-f', 'GPKG', withEmpty, source]);
      const dataset = gdal.open(withEmpty, 'r+');
      const layer = dataset.layers.get('ocsge_2019');
      const empty = new gdal.Feature(layer);
      empty.setFrom(layer.features.first()!);
      empty.setGeometry(new gdal.Polygon());
      layer.features.add(empty);
      dataset.close();
      const stage = async (file: string): Promise<{ log: string; staged: Buffer }> => {
        const lines: string[] = [];
        const stream = new Writable({ write: (chunk: Buffer, _encoding, done) => void (lines.push(chunk.toString()), done()) });
        const stageDir = `${file}.stage`;
        await ingestVintages([parseVintageSpec(`2019=${file}#ocsge_2019`)], { stageDir, logger: createLogger({ stream }) });
        return { log: lines.join(''), staged: readFileSync(path.join(stageDir, 'vintage-2019.fgb')) };
      };
      const translated = await stage(source);
      const oneByOne = await stage(withEmpty);
      expect(translated.log).toMatch(/features copied \(from GDAL's translation, 0 read again one by one\)/);
      expect(oneByOne.log).toMatch(/features copied \(one by one\)/);
      expect(oneByOne.staged.equals(translated.staged)).toBe(true);
    });
  }
});

function ogr2ogr(args: string[]): void {
  execFileSync('ogr2ogr', args, { stdio: 'pipe' });
}
