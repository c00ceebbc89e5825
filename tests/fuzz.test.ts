import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import gdal from 'gdal-async';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamFor, type Rng } from '../fixtures/generator/prng.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { tempDir } from './ingest-helpers.js';

/**
 * Seeded fuzz: small extracts of the demo (one commune, two vintages) mutated the ways real deliveries
 * break — truncated or bit-flipped files, dropped or reversed rings, NaN / infinite / huge coordinates,
 * duplicated and shifted features, wrong field types — each run as its own `ocs-zan run` process.
 * Every case must end in exit 0 (with a complete output) or exit 2 (one line, no output at all):
 * never 1, a signal, a hang or a partial output. FUZZ_SEED picks another set of mutations.
 */

const SEED = Number(process.env['FUZZ_SEED'] ?? 13);
const DEMO = path.join(PROJECT_ROOT, 'fixtures', 'data', 'demo.gpkg');
/** Dieffenthal (67094), the smallest demo commune: about 60 OCS polygons per vintage around it. */
const COMMUNE = '67094';
const BOX = ['1025930', '6809132', '1027800', '6810646'];
const CASE_TIMEOUT_MS = 90_000;

const dir = tempDir('ocs-zan-fuzz-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Feature {
  fields: Record<string, unknown>;
  geometry: gdal.Geometry | null;
}

function ogr2ogr(args: string[]): void {
  execFileSync('ogr2ogr', args, { stdio: 'pipe' });
}

function readLayer(file: string, name: string): Feature[] {
  const ds = gdal.open(file);
  try {
    return ds.layers.get(name).features.map((f) => ({ fields: f.fields.toObject() as Record<string, unknown>, geometry: f.getGeometry() }));
  } finally {
    ds.close();
  }
}

/** One layer of features; field types default to strings, `types` overrides some. */
function writeLayer(file: string, name: string, features: Feature[], types: Record<string, string> = {}): string {
  const ds = gdal.drivers.get('GPKG').create(file);
  const layer = ds.layers.create(name, gdal.SpatialReference.fromEPSG(2154), gdal.wkbMultiPolygon);
  for (const field of Object.keys(features[0]!.fields)) layer.fields.add(new gdal.FieldDefn(field, types[field] ?? gdal.OFTString));
  for (const f of features) {
    const feature = new gdal.Feature(layer);
    for (const [key, value] of Object.entries(f.fields)) if (value !== null && value !== undefined) feature.fields.set(key, value as never);
    if (f.geometry) feature.setGeometry(f.geometry);
    layer.features.add(feature);
  }
  ds.close();
  return file;
}

type Points = Array<{ x: number; y: number }>;

/** A MultiPolygon rebuilt ring by ring through `edit` (which may drop a ring by returning null). */
function editRings(geometry: gdal.Geometry, edit: (points: Points, ring: number) => Points | null): gdal.Geometry {
  const out = new gdal.MultiPolygon();
  const polygons = geometry instanceof gdal.MultiPolygon ? geometry.children.map((child) => child) : [geometry];
  for (const polygon of polygons as gdal.Polygon[]) {
    const rebuilt = new gdal.Polygon();
    polygon.rings.forEach((ring, r) => {
      const points = edit(ring.points.toArray().map((p) => ({ x: p.x, y: p.y })), r);
      if (!points) return;
      const next = new gdal.LinearRing();
      for (const p of points) next.points.add(p.x, p.y);
      rebuilt.rings.add(next);
    });
    out.children.add(rebuilt);
  }
  return out;
}

/** Indices of `count` features, drawn with replacement. */
const some = (rng: Rng, features: Feature[], count: number): Set<number> => new Set(Array.from({ length: count }, () => Math.floor(rng() * features.length)));

function flipBytes(file: string, rng: Rng, count: number, from = 0): void {
  const bytes = readFileSync(file);
  for (let i = 0; i < count; i++) {
    const at = from + Math.floor(rng() * (bytes.length - from));
    bytes[at] = bytes[at]! ^ (1 << Math.floor(rng() * 8));
  }
  writeFileSync(file, bytes);
}

function truncateFile(file: string, rng: Rng): void {
  const bytes = readFileSync(file);
  writeFileSync(file, bytes.subarray(0, Math.floor(bytes.length * (0.1 + 0.85 * rng()))));
}

interface Inputs {
  ocs: string;
  communes: string;
}

interface Case {
  name: string;
  /** Writes the mutated inputs; returns the run's vintage and territory arguments. */
  make(base: Inputs, at: (file: string) => string, rng: Rng): string[];
}

const vintages = (v2010: string, v2019: string, communes: string): string[] => ['--vintage', `2010=${v2010}`, '--vintage', `2019=${v2019}`, '--territories', communes];

/** The 2019 vintage rewritten feature by feature. */
const editing = (name: string, edit: (features: Feature[], rng: Rng) => Feature[], types: Record<string, string> = {}): Case => ({
  name,
  make: (base, at, rng) => {
    const features = edit(readLayer(base.ocs, 'ocsge_2019'), rng);
    return vintages(`${base.ocs}#ocsge_2010`, writeLayer(at('ocs-2019.gpkg'), 'ocsge_2019', features, types), `${base.communes}#communes`);
  },
});

/** One file of the inputs copied (or converted), then damaged byte-wise. */
const damaging = (name: string, target: 'ocs' | 'communes', format: 'gpkg' | 'fgb' | 'geojson', damage: (file: string, rng: Rng) => void): Case => ({
  name,
  make: (base, at, rng) => {
    const layer = target === 'ocs' ? 'ocsge_2019' : 'communes';
    const file = at(`${target}.${format}`);
    if (format === 'gpkg') copyFileSync(target === 'ocs' ? base.ocs : base.communes, file);
    else ogr2ogr(['-f', format === 'fgb' ? 'FlatGeobuf' : 'GeoJSON', file, target === 'ocs' ? base.ocs : base.communes, layer]);
    damage(file, rng);
    const spec = format === 'gpkg' ? `${file}#${layer}` : file;
    return target === 'ocs' ? vintages(`${base.ocs}#ocsge_2010`, spec, `${base.communes}#communes`) : vintages(`${base.ocs}#ocsge_2010`, `${base.ocs}#ocsge_2019`, spec);
  },
});

const vertexAt = (value: () => number): ((features: Feature[], rng: Rng) => Feature[]) => (features, rng) => {
  const victims = some(rng, features, 1);
  return features.map((f, i) =>
    victims.has(i) && f.geometry
      ? { ...f, geometry: editRings(f.geometry, (points, ring) => (ring === 0 ? points.map((p, k) => (k === 1 ? { x: value(), y: p.y } : p)) : points)) }
      : f,
  );
};

const CASES: Case[] = [
  damaging('truncated GeoPackage', 'ocs', 'gpkg', truncateFile),
  damaging('bit flips in a GeoPackage', 'ocs', 'gpkg', (file, rng) => flipBytes(file, rng, 40, 4096)),
  damaging('truncated FlatGeobuf', 'ocs', 'fgb', truncateFile),
  damaging('bit flips in a FlatGeobuf', 'ocs', 'fgb', (file, rng) => flipBytes(file, rng, 40, 1024)),
  damaging('truncated GeoJSON', 'ocs', 'geojson', truncateFile),
  damaging('bit flips in a GeoJSON', 'ocs', 'geojson', (file, rng) => flipBytes(file, rng, 20)),
  damaging('bit flips in the communes', 'communes', 'fgb', (file, rng) => flipBytes(file, rng, 20, 512)),
  damaging('truncated communes', 'communes', 'gpkg', truncateFile),
  editing('dropped outer rings', (features, rng) => {
    const victims = some(rng, features, 5);
    return features.map((f, i) => (victims.has(i) && f.geometry ? { ...f, geometry: editRings(f.geometry, (points, ring) => (ring === 0 ? null : points)) } : f));
  }),
  editing('reversed rings', (features, rng) => {
    const victims = some(rng, features, 20);
    return features.map((f, i) => (victims.has(i) && f.geometry ? { ...f, geometry: editRings(f.geometry, (points) => [...points].reverse()) } : f));
  }),
  editing('NaN coordinate', vertexAt(() => Number.NaN)),
  editing('infinite coordinate', vertexAt(() => Number.NEGATIVE_INFINITY)),
  editing('huge coordinate', vertexAt(() => 1e200)),
  editing('duplicated and shifted features', (features, rng) => {
    const copies = [...some(rng, features, 12)].map((i) => {
      const f = features[i]!;
      const [dx, dy] = [rng() - 0.5, rng() - 0.5];
      return { ...f, geometry: f.geometry && (rng() < 0.5 ? f.geometry.clone() : editRings(f.geometry, (points) => points.map((p) => ({ x: p.x + dx, y: p.y + dy })))) };
    });
    return [...features, ...copies];
  }),
  editing('codes in an integer field', (features, rng) => features.map((f) => ({ ...f, fields: { ...f.fields, CODE_CS: String(Math.floor(rng() * 3)) } })), { CODE_CS: gdal.OFTInteger }),
  editing('null geometries only', (features) => features.map((f) => ({ ...f, geometry: null }))),
  {
    name: 'NaN coordinate in a commune',
    make: (base, at, rng) => {
      const communes = vertexAt(() => Number.NaN)(readLayer(base.communes, 'communes'), rng);
      return vintages(`${base.ocs}#ocsge_2010`, `${base.ocs}#ocsge_2019`, `${writeLayer(at('communes.gpkg'), 'communes', communes)}#communes`);
    },
  },
];

interface Outcome {
  code: number | null;
  signal: string | null;
  stderr: string;
  out: string;
  seconds: number;
}

function runCase(args: string[], out: string): Promise<Outcome> {
  const started = performance.now();
  const argv = ['--import', 'tsx', path.join(PROJECT_ROOT, 'cli', 'bin.ts'), 'run', ...args, '--out', out, '--no-tiles', '--no-portraits', '--jobs', '1', '--quiet'];
  return new Promise((resolve) => {
    execFile(process.execPath, argv, { cwd: PROJECT_ROOT, timeout: CASE_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 24 }, (error, _stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      resolve({ code, signal: error?.signal ?? null, stderr, out, seconds: (performance.now() - started) / 1000 });
    });
  });
}

const outcomes = new Map<string, Outcome>();

beforeAll(async () => {
  const base: Inputs = { ocs: path.join(dir, 'ocs.gpkg'), communes: path.join(dir, 'communes.gpkg') };
  ogr2ogr(['-f', 'GPKG', base.communes, DEMO, '-nln', 'communes', '-where', `code = '${COMMUNE}'`, 'communes']);
  for (const year of [2010, 2019]) ogr2ogr(['-f', 'GPKG', '-update', '-append', base.ocs, DEMO, `ocsge_${year}`, '-nln', `ocsge_${year}`, '-spat', ...BOX]);
  const jobs = CASES.map((c, n) => {
    const caseDir = path.join(dir, `case-${n}`);
    execFileSync('mkdir', ['-p', caseDir]);
    const args = c.make(base, (file) => path.join(caseDir, file), streamFor(SEED, c.name));
    return { name: c.name, args, out: path.join(caseDir, 'out') };
  });
  // Two processes at a time: the CI machine has two cores.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      outcomes.set(job.name, await runCase(job.args, job.out));
    }
  };
  await Promise.all([worker(), worker()]);
}, 600_000);

describe(`fuzzed inputs (seed ${SEED})`, () => {
  for (const c of CASES) {
    it(`${c.name}: exit 0 with a whole output, or exit 2 with one line and no output`, () => {
      const outcome = outcomes.get(c.name)!;
      const context = `${c.name} (${outcome.seconds.toFixed(1)} s): ${outcome.stderr}`;
      expect(outcome.signal, context).toBeNull();
      expect([0, 2], context).toContain(outcome.code);
      const leftovers = readdirSync(path.dirname(outcome.out)).filter((name) => name.startsWith('.out.'));
      expect(leftovers, context).toEqual([]);
      if (outcome.code === 0) {
        for (const file of ['ocs.duckdb', 'run-summary.json', path.join('parquet', 'piece.parquet')]) expect(existsSync(path.join(outcome.out, file)), context).toBe(true);
      } else {
        expect(outcome.stderr.trimEnd().split('\n'), context).toHaveLength(1);
        expect(outcome.stderr, context).toMatch(/^ocs-zan: error: /);
        expect(existsSync(outcome.out), context).toBe(false);
      }
    });
  }
});
