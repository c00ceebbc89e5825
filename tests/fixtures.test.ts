import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import gdal from 'gdal-async';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { cleanOverlaps, type Commune } from '../fixtures/generator/communes.js';
import { DIRTY_LAYER, FAULTY_ID } from '../fixtures/generator/dirty.js';
import { geomArea } from '../fixtures/generator/geometry.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { readCeremaFile } from '../pipeline/cerema/index.js';

const DEMO = path.join(PROJECT_ROOT, 'fixtures', 'data', 'demo.gpkg');
const DIRTY = path.join(PROJECT_ROOT, 'fixtures', 'dirty');
const REFERENCE = path.join(PROJECT_ROOT, '..', 'shared', 'reference');
const VINTAGES = [2010, 2019, 2022];
// Schirrhoffen (0.6 km²) and its two nearest neighbours, at realistic density: small but complete.
const SMALL = ['--around', '67450', '--count', '3', '--seed', '7'];

interface Polygon {
  id: string;
  cs: string;
  us: string;
  wkb: Buffer;
  geometry: gdal.Geometry;
  area: number;
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) }, out, err };
}

function readLayer(file: string, layerName: string): Polygon[] {
  const ds = gdal.open(file);
  const polygons: Polygon[] = [];
  for (const f of ds.layers.get(layerName).features) {
    const geometry = f.getGeometry()!;
    polygons.push({ id: f.fields.get('ID'), cs: f.fields.get('CODE_CS'), us: f.fields.get('CODE_US'), wkb: geometry.toWKB(), geometry, area: geomArea(geometry) });
  }
  ds.close();
  return polygons;
}

function readCommunesLayer(file: string): Commune[] {
  const ds = gdal.open(file);
  const communes = ds.layers.get('communes').features.map((f) => ({ code: f.fields.get('code') as string, nom: f.fields.get('nom') as string, geometry: f.getGeometry()! }));
  ds.close();
  return communes.sort((a, b) => (a.code < b.code ? -1 : 1));
}

/** Canonical text of every layer: features sorted by ID, coordinates rounded to the millimetre. */
function dump(file: string): string {
  const ds = gdal.open(file);
  const lines: string[] = [];
  for (const layer of ds.layers) {
    lines.push(`# ${layer.name} ${layer.srs?.getAuthorityCode()} ${layer.features.count()}`);
    const rows = layer.features.map((f) => {
      const fields = Object.entries(f.fields.toObject()).map(([k, v]) => `${k}=${v}`).join(' ');
      const geometry = JSON.stringify(f.getGeometry()?.toObject(), (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 1000) / 1000 : v));
      return `${fields} ${geometry}`;
    });
    lines.push(...rows.sort());
  }
  ds.close();
  return lines.join('\n');
}

/** Polygons of `to` that are not exactly (same WKB, same codes) a polygon of `from`. */
const key = (p: Polygon): string => `${p.cs}|${p.us}|${p.wkb.toString('base64')}`;

/** Area whose CS/US differs between two vintages, by overlaying only the polygons that are not identical. */
function changedArea(from: Polygon[], to: Polygon[]): number {
  const fromKeys = new Set(from.map(key));
  const toKeys = new Set(to.map(key));
  const a = from.filter((p) => !toKeys.has(key(p)));
  const b = to.filter((p) => !fromKeys.has(key(p)));
  const envelopes = a.map((p) => p.geometry.getEnvelope());
  let changed = 0;
  for (const q of b) {
    const env = q.geometry.getEnvelope();
    a.forEach((p, i) => {
      if ((p.cs !== q.cs || p.us !== q.us) && envelopes[i]!.intersects(env)) changed += geomArea(p.geometry.intersection(q.geometry));
    });
  }
  return changed;
}

function leafCodes(file: string, column: 'parent'): Set<string> {
  const rows = readFileSync(file, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  const codes = rows.map((r) => r[0]!);
  const parentIndex = readFileSync(file, 'utf8').split('\n')[0]!.split(',').indexOf(column);
  const parents = new Set(rows.map((r) => r[parentIndex]).filter(Boolean));
  return new Set(codes.filter((c) => !parents.has(c)));
}

let dir: string;
let small: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ocs-fixtures-'));
  small = path.join(dir, 'small.gpkg');
  const { io, err } = capture();
  expect(await runCli(['fixtures', 'generate', '--out', small, ...SMALL, '--quiet'], io), err.join('')).toBe(0);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fixtures generate', () => {
  it('is deterministic: same seed, identical canonical dump and identical file bytes', async () => {
    const again = path.join(dir, 'again.gpkg');
    const { io } = capture();
    expect(await runCli(['fixtures', 'generate', '--out', again, ...SMALL, '--quiet'], io)).toBe(0);
    expect(dump(again)).toBe(dump(small));
    expect(readFileSync(again).equals(readFileSync(small))).toBe(true);
  });

  it('writes OCS GE layers in Lambert-93 over the real communes, with unique IDs and leaf CS/US codes', () => {
    const ds = gdal.open(small);
    expect(ds.layers.map((l) => l.name).sort()).toEqual(['communes', 'ocsge_2010', 'ocsge_2019', 'ocsge_2022']);
    for (const layer of ds.layers) {
      expect(layer.srs?.getAuthorityCode()).toBe('2154');
      const e = layer.getExtent();
      expect(e.minX).toBeGreaterThan(900_000);
      expect(e.maxX).toBeLessThan(1_100_000);
      expect(e.minY).toBeGreaterThan(6_700_000);
      expect(e.maxY).toBeLessThan(6_900_000);
    }
    ds.close();
    const cs = leafCodes(path.join(REFERENCE, 'ocsge-couverture.csv'), 'parent');
    const us = leafCodes(path.join(REFERENCE, 'ocsge-usage.csv'), 'parent');
    for (const year of VINTAGES) {
      const polygons = readLayer(small, `ocsge_${year}`);
      expect(new Set(polygons.map((p) => p.id)).size).toBe(polygons.length);
      expect(polygons.every((p) => /^OCSGE\d{10}$/.test(p.id))).toBe(true);
      expect(polygons.filter((p) => !cs.has(p.cs) || !us.has(p.us)).map((p) => `${p.cs}×${p.us}`)).toEqual([]);
    }
  });

  it('partitions each cleaned commune in every vintage, at realistic density', () => {
    const communes = readCommunesLayer(small);
    expect(communes.map((c) => c.code)).toContain('67450');
    const cleaned = cleanOverlaps(communes);
    const envelopes = cleaned.map((g) => g.getEnvelope());
    const totalArea = cleaned.reduce((s, g) => s + geomArea(g), 0);
    for (const year of VINTAGES) {
      const polygons = readLayer(small, `ocsge_${year}`);
      expect(polygons.filter((p) => !p.geometry.isValid()).map((p) => p.id)).toEqual([]);
      // Each polygon lies in one commune: give it to the commune holding most of it.
      const perCommune = cleaned.map(() => 0);
      for (const p of polygons) {
        const env = p.geometry.getEnvelope();
        const candidates = cleaned.map((_, i) => i).filter((i) => envelopes[i]!.intersects(env));
        const owner = candidates.length === 1 ? candidates[0]! : candidates.find((i) => geomArea(p.geometry.intersection(cleaned[i]!)) > p.area / 2)!;
        perCommune[owner]! += p.area;
      }
      cleaned.forEach((g, i) => expect(Math.abs(perCommune[i]! - geomArea(g)) / geomArea(g), `${communes[i]!.code} ${year}`).toBeLessThan(1e-6));
      const union = new gdal.MultiPolygon();
      for (const p of polygons) for (const part of (p.geometry as gdal.MultiPolygon).children) union.children.add(part);
      const sum = polygons.reduce((s, p) => s + p.area, 0);
      expect(Math.abs(geomArea(union.unionCascaded()) - sum) / sum, `overlaps in ${year}`).toBeLessThan(1e-6);
      expect(polygons.length / (totalArea / 1e6), `polygons per km² in ${year}`).toBeGreaterThanOrEqual(100);
    }
  });

  it('keeps most polygons identical between vintages and changes 0.5–8 % of the area', () => {
    const total = readLayer(small, 'ocsge_2010').reduce((s, p) => s + p.area, 0);
    for (const [from, to] of [
      [2010, 2019],
      [2019, 2022],
    ]) {
      const a = readLayer(small, `ocsge_${from}`);
      const b = readLayer(small, `ocsge_${to}`);
      const before = new Set(a.map(key));
      const identical = b.filter((p) => before.has(key(p))).length / b.length;
      expect(identical, `identical share ${from}→${to}`).toBeGreaterThan(0.8);
      const share = changedArea(a, b) / total;
      expect(share, `changed share ${from}→${to}`).toBeGreaterThan(0.005);
      expect(share, `changed share ${from}→${to}`).toBeLessThan(0.08);
    }
  });

  it('refuses to overwrite without --force and rejects unknown communes (exit 2)', async () => {
    const first = capture();
    expect(await runCli(['fixtures', 'generate', '--out', small, ...SMALL], first.io)).toBe(2);
    expect(first.err.join('')).toMatch(/output already exists.*--force/);
    const second = capture();
    expect(await runCli(['fixtures', 'generate', '--out', path.join(dir, 'x.gpkg'), '--communes', '67999'], second.io)).toBe(2);
    expect(second.err.join('')).toMatch(/unknown commune 67999/);
    expect(existsSync(path.join(dir, 'x.gpkg'))).toBe(false);
  });
});

describe('committed fixtures', () => {
  it('demo.gpkg is small, complete, and regenerates identically from fixtures/regenerate-demo.sh', async () => {
    expect(statSync(DEMO).size).toBeLessThan(5 * 1024 * 1024);
    const script = readFileSync(path.join(PROJECT_ROOT, 'fixtures', 'regenerate-demo.sh'), 'utf8');
    const args = script.match(/fixtures generate (--out fixtures\/data\/demo\.gpkg [^\n]*\\\n[^\n]*)/)![1]!.replace('\\\n', ' ').trim().split(/\s+/);
    const out = path.join(dir, 'demo.gpkg');
    args[1] = out;
    const { io } = capture();
    expect(await runCli(['fixtures', 'generate', ...args.filter((a) => a !== '--force'), '--quiet'], io)).toBe(0);
    expect(dump(out)).toBe(dump(DEMO));
    expect(readCommunesLayer(DEMO)).toHaveLength(12);
  });

  it('each dirty file holds valid features and its one named fault', () => {
    const open = (name: string) => gdal.open(path.join(DIRTY, name));
    const features = (name: string) => open(name).layers.get(0).features.map((f) => ({ id: f.fields.get('ID') as string, cs: f.fields.get('CODE_CS') as string | null, us: f.fields.get('CODE_US') as string | null, g: f.getGeometry() }));
    const faulty = (name: string) => features(name).find((f) => f.id === FAULTY_ID)!;
    expect(features('invalid-ring.gpkg').filter((f) => !f.g!.isValid()).map((f) => f.id)).toEqual([FAULTY_ID]);
    expect(faulty('missing-code.gpkg').us).toBeNull();
    expect(faulty('unknown-code.gpkg').cs).toBe('CS9.9');
    expect(faulty('empty-geometry.gpkg').g!.isEmpty()).toBe(true);
    expect(features('duplicate-ids.gpkg').map((f) => f.id).filter((id, i, all) => all.indexOf(id) !== i)).toEqual(['OCSGE0000000002']);
    expect(open('invalid-ring.gpkg').layers.get(0).name).toBe(DIRTY_LAYER);
    expect(existsSync(path.join(DIRTY, 'no-crs.prj'))).toBe(false);
    expect(open('no-crs.shp').layers.get(0).srs).toBeNull();
    // Lambert-93 metres where RFC 7946 promises degrees.
    expect(features('wrong-crs.geojson')[0]!.g!.getEnvelope().minX).toBeGreaterThan(1_000_000);
    expect(() => {
      const ds = open('truncated.fgb');
      ds.layers.get(0).features.map((f) => f.getGeometry());
    }).toThrow();
  });
});

describe('trajectory fixtures', () => {
  it('rebuilds the committed Cerema file and planning documents byte for byte, in a format the Cerema reader accepts', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ocs-zan-trajectory-'));
    try {
      const data = path.join(PROJECT_ROOT, 'fixtures', 'data');
      const args = ['fixtures', 'trajectory', '--territories', `${path.join(data, 'demo.gpkg')}#communes`, '--out', dir, '--seed', '1', '--last', '2023'];
      const { io, err } = capture();
      expect(await runCli(args, io), err.join('')).toBe(0);
      for (const name of ['obs_artif_conso_com_2009_2023.csv', 'planning-documents.csv']) {
        expect(readFileSync(path.join(dir, name)).equals(readFileSync(path.join(data, name))), name).toBe(true);
      }
      const file = readCeremaFile(path.join(data, 'obs_artif_conso_com_2009_2023.csv'));
      expect([file.communes.length, file.years, file.destinations.length, file.missingValues, file.destinationMismatches.count]).toEqual([12, [2009, 2023], 7, 0, 0]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
