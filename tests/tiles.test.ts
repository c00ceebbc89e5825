import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { PMTiles, zxyToTileId as referenceTileId } from 'pmtiles';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { changeKind } from '../pipeline/tiles/layers.js';
import { writePmtiles, zxyToTileId, type TileRef } from '../pipeline/tiles/pmtiles-writer.js';
import { buildTiles } from '../pipeline/tiles/index.js';
import { LocalFileSource, dumpArchive, readArchive, type Archive } from './helpers/pmtiles-dump.js';
import { layerAreaM2 } from './helpers/tile-area.js';
import { buildTilesTestDb, TEST_VINTAGES, type TestDbFacts } from '../fixtures/generator/tiles-db.js';
import { buildFixtureDb } from './indicators-fixture.js';

function capture() {
  const err: string[] = [];
  return { io: { stdout: () => undefined, stderr: (t: string) => void err.push(t) }, err };
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'ocs-zan-tiles-test-'));
const db = path.join(dir, 'ocs.duckdb');
const out = path.join(dir, 'tiles', 'ocs.pmtiles');
let facts: TestDbFacts;
let archive: Archive;

beforeAll(async () => {
  facts = await buildTilesTestDb(db);
  const { io, err } = capture();
  const code = await runCli(['tiles', '--db', db, '--out', out, '--minzoom', '6', '--maxzoom', '14', '--jobs', '2', '--quiet'], io);
  expect(err.join('')).toBe('');
  expect(code).toBe(0);
  archive = await readArchive(out);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pmtiles writer', () => {
  it('computes Hilbert tile ids as the pmtiles reader does', () => {
    for (const [z, x, y] of [[0, 0, 0], [1, 1, 0], [3, 5, 2], [10, 530, 355], [14, 8500, 5700], [14, 16383, 0]] as const) {
      expect(zxyToTileId(z, x, y)).toBe(referenceTileId(z, x, y));
    }
  });

  it('writes run-length, deduplicated entries and leaf directories the reader resolves', async () => {
    const file = path.join(dir, 'synthetic.pmtiles');
    // 40,000 tiles at z7–8 with varied lengths: enough entries to need leaf directories; every 7th shares one content.
    const tiles: TileRef[] = [];
    const contents = new Map<string, Buffer>();
    const text = (n: number, z: number, x: number, y: number): string => (n % 7 === 0 ? 'shared content' : `tile ${z}/${x}/${y} ${'x'.repeat(n % 13)}`);
    let n = 0;
    for (const z of [7, 8]) {
      for (let x = 0; x < 2 ** z && n < 40_000; x++) {
        for (let y = 0; y < 2 ** z && n < 40_000; y++, n++) {
          const hash = n % 7 === 0 ? 'shared' : `t${n}`;
          const body = gzipSync(text(n, z, x, y));
          contents.set(hash, body);
          tiles.push({ tileId: zxyToTileId(z, x, y), hash, length: body.length, file: '', offset: 0 });
        }
      }
    }
    const summary = await writePmtiles(file, tiles.reverse(), async (t) => contents.get(t.hash)!, {
      minZoom: 7,
      maxZoom: 8,
      bounds: [-180, -85, 180, 85],
      center: [0, 0, 7],
      metadata: { name: 'synthetic' },
    });
    expect(summary.leafDirectories).toBeGreaterThan(0);
    expect(summary.tileContents).toBeLessThan(summary.addressedTiles);
    const source = new LocalFileSource(file);
    const reader = new PMTiles(source);
    const header = await reader.getHeader();
    expect(header.numAddressedTiles).toBe(40_000);
    expect(header.clustered).toBe(true);
    expect(await reader.getMetadata()).toEqual({ name: 'synthetic' });
    for (const [z, x, y] of [[7, 0, 0], [7, 17, 100], [7, 127, 127], [8, 0, 0], [8, 50, 33]] as const) {
      const got = await reader.getZxy(z, x, y);
      const index = z === 7 ? x * 128 + y : 16_384 + x * 256 + y;
      expect(Buffer.from(got!.data).toString()).toBe(text(index, z, x, y));
    }
    expect(await reader.getZxy(8, 255, 255)).toBeUndefined();
    await source.close();
  });
});

describe('change kinds', () => {
  const cls = (artificialised: boolean, enaf: string, category: number) => ({ vintage: 0, code_cs: 'CS', code_us: 'US', category, artificialised, enaf, destination: null });
  it('classifies each move once, keeping the ENAF side', () => {
    expect(changeKind(cls(false, 'naf', 7), cls(true, 'urban', 1))).toEqual({ kind: 'artificialisation', enaf: 'consumption' });
    expect(changeKind(cls(true, 'urban', 4), cls(false, 'naf', 10))).toEqual({ kind: 'desartificialisation', enaf: 'renaturation' });
    expect(changeKind(cls(false, 'naf', 7), cls(false, 'urban', 10))).toEqual({ kind: 'enaf_consumption', enaf: 'consumption' });
    expect(changeKind(cls(false, 'naf', 7), cls(false, 'naf', 8))).toEqual({ kind: 'other', enaf: '' });
    expect(changeKind(cls(false, 'naf', 7), cls(false, 'naf', 7))).toBeNull();
  });
});

describe('ocs-zan tiles', () => {
  it('writes a gzip MVT PMTiles v3 archive with the requested zoom range and metadata', () => {
    const { header, metadata } = archive;
    expect(header.specVersion).toBe(3);
    expect(header.tileType).toBe(1);
    expect(header.tileCompression).toBe(2);
    expect(header.internalCompression).toBe(2);
    expect(header.clustered).toBe(true);
    expect([header.minZoom, header.maxZoom]).toEqual([6, 14]);
    expect(header.minLon).toBeLessThan(facts.centre[0]);
    expect(header.maxLat).toBeGreaterThan(facts.centre[1]);
    expect(metadata.attribution).toBe('OCS GE IGN / ocs-zan');
    expect(metadata.legend).toHaveLength(10);
    expect(metadata.legend[0]).toMatchObject({ category: 1, artificialised: true, colour: expect.stringMatching(/^#/) });
    const layers = Object.fromEntries((metadata.vector_layers as Array<{ id: string }>).map((l) => [l.id, l]));
    expect(Object.keys(layers).sort()).toEqual(
      [
        ...TEST_VINTAGES.map((v) => `landuse_${v}`),
        'change_2016_2019',
        'change_2019_2022',
        'change_2016_2022',
        'territory_commune',
        'territory_epci',
        'territory_departement',
        'territory_region',
      ].sort(),
    );
    expect(layers.landuse_2019).toMatchObject({ minzoom: 6, maxzoom: 14, fields: { code_cs: 'String', category: 'Number', artificialised: 'Boolean' } });
    expect(layers.change_2016_2022).toMatchObject({ fields: { kind: 'String', destination: 'String' } });
    expect(layers.territory_region).toMatchObject({ minzoom: 6, maxzoom: 7, fields: { net_artif_ha: 'Number' } });
    expect(layers.territory_commune).toMatchObject({ minzoom: 9, maxzoom: 14 });
    expect(metadata.dropped_features.pieces_below_one_pixel['6']).toBeGreaterThan(0);
  });

  it('keeps every tile under 500 KB and each territory level inside its zooms', () => {
    expect(archive.tiles.length).toBeGreaterThan(10);
    for (const t of archive.tiles) {
      expect(t.bytes).toBeLessThanOrEqual(500_000);
      if (t.tile.layers.territory_region) expect(t.z).toBeLessThanOrEqual(7);
      if (t.tile.layers.territory_commune) expect(t.z).toBeGreaterThanOrEqual(9);
      if (t.tile.layers.territory_epci) expect(t.z).toBeGreaterThanOrEqual(8);
    }
    expect(archive.tiles.some((t) => t.z === 6 && t.tile.layers.territory_region)).toBe(true);
  });

  it('carries classes, changes and territory indicators as attributes', () => {
    const top = archive.tiles.filter((t) => t.z === 14);
    expect(top.length).toBeGreaterThan(0);
    const landuse = top.find((t) => t.tile.layers.landuse_2022)!.tile.layers.landuse_2022!.feature(0);
    expect(landuse.properties).toMatchObject({ code_cs: expect.stringMatching(/^CS/), code_us: expect.stringMatching(/^US/) });
    expect(typeof landuse.properties.category).toBe('number');
    expect(typeof landuse.properties.artificialised).toBe('boolean');
    expect(landuse.id).toBeGreaterThan(0);
    const kinds = new Set<string>();
    for (const t of top) {
      const layer = t.tile.layers.change_2016_2022;
      for (let i = 0; layer && i < layer.length; i++) kinds.add(String(layer.feature(i).properties.kind));
    }
    expect([...kinds].sort()).toEqual(expect.arrayContaining(['artificialisation', 'desartificialisation']));
    const commune = top.find((t) => t.tile.layers.territory_commune)!.tile.layers.territory_commune!.feature(0);
    expect(commune.properties).toMatchObject({ code: expect.stringMatching(/^6700/), area_ha: 200, coverage_status: 'complete_uniform' });
    expect(typeof commune.properties.net_artif_ha).toBe('number');
    expect(typeof commune.properties.artificialised_share).toBe('number');
  });

  it('sums to the DB stock at max zoom within 0.5 %', () => {
    for (const vintage of TEST_VINTAGES) {
      const area = layerAreaM2(archive, `landuse_${vintage}`, 14);
      expect(Math.abs(area / facts.stockM2[vintage]! - 1)).toBeLessThan(0.005);
    }
  });

  it('gives identical bytes for identical input, whatever the number of workers', async () => {
    const again = path.join(dir, 'again.pmtiles');
    await buildTiles({ db, out: again, minzoom: 6, maxzoom: 14, jobs: 1 });
    expect(readFileSync(again).equals(readFileSync(out))).toBe(true);
    expect(dumpArchive(await readArchive(again))).toBe(dumpArchive(archive));
  });

  it('drops the smallest pieces to meet a tile budget, and counts them', async () => {
    const small = path.join(dir, 'budget.pmtiles');
    const summary = await buildTiles({ db, out: small, minzoom: 12, maxzoom: 13, jobs: 2, budgetBytes: 4_000 });
    expect(summary.largestTile.bytes).toBeLessThanOrEqual(4_000);
    const droppedLanduse = Object.entries(summary.dropped).filter(([layer]) => layer.startsWith('landuse_') || layer.startsWith('change_'));
    expect(droppedLanduse.length).toBeGreaterThan(0);
    const meta = (await readArchive(small)).metadata;
    expect(meta.dropped_features).toEqual(summary.dropped);
    for (const t of (await readArchive(small)).tiles) expect(t.bytes).toBeLessThanOrEqual(4_000);
  });

  it('refuses to overwrite without --force and reports a missing DB as a user error', async () => {
    const { io, err } = capture();
    expect(await runCli(['tiles', '--db', db, '--out', out, '--quiet'], io)).toBe(2);
    expect(err.join('')).toMatch(/output already exists.*--force/);
    const missing = capture();
    expect(await runCli(['tiles', '--db', path.join(dir, 'nope.duckdb'), '--out', path.join(dir, 'x.pmtiles')], missing.io)).toBe(2);
    expect(missing.err.join('')).toMatch(/DuckDB file not found/);
    const badZoom = capture();
    expect(await runCli(['tiles', '--db', db, '--out', path.join(dir, 'y.pmtiles'), '--minzoom', '12', '--maxzoom', '8'], badZoom.io)).toBe(2);
  });
});

describe('ocs-zan tiles on the real output schema (indicators fixture: mixed vintages 54 / 57)', () => {
  it('makes layers for every vintage and pair met, labels from the DB and indicators from v_territory_summary', async () => {
    const built = await buildFixtureDb();
    try {
      const file = path.join(built.dir, 'tiles', 'ocs.pmtiles');
      await buildTiles({ db: built.dbPath, out: file, minzoom: 8, maxzoom: 14, jobs: 1 });
      const real = await readArchive(file);
      const ids = (real.metadata.vector_layers as Array<{ id: string }>).map((l) => l.id);
      expect(ids).toEqual(expect.arrayContaining(['landuse_2010', 'landuse_2011', 'landuse_2021', 'landuse_2022', 'change_2010_2019', 'change_2011_2018', 'change_2010_2022', 'territory_scot']));
      expect(real.metadata.legend[0].label).toBe('Catégorie 1');
      const scot = real.tiles.flatMap((t) => (t.tile.layers.territory_scot ? [t.tile.layers.territory_scot.feature(0).properties] : []))[0];
      expect(scot).toMatchObject({ code: 'S1', area_ha: 9, net_artif_ha: 5, enaf_consumption_ha: 6 });
    } finally {
      rmSync(built.dir, { recursive: true, force: true });
    }
  });
});
