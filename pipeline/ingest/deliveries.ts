/**
 * IGN OCS GE deliveries as downloaded (`--ocsge DIR`): 7z archives or their extracted folders, any
 * nesting, any number of départements. `scanDeliveries` reads only names (archive listings, folder
 * trees) and decides which layer gives each département's millésimes, which difference layers serve
 * the cross-check, and what is ignored and why; `openDeliveries` then extracts the archives it needs
 * (into a work folder, or a cache keyed by sha256) and returns ordinary vintage sources.
 *
 * Per département and millésime, the ARTIFICIALISATION product (`artif_<year>_<dep>`, IGN's `artif`
 * and `crit_seuil`) wins over OCCUPATION_SOL alone (then the CS×US matrix decides). GeoPackage wins
 * over Shapefile, an extracted folder over its archive.
 *
 * @example
 *   const scan = await scanDeliveries('downloads/');
 *   process.stdout.write(deliveryListing(scan));
 *   const { sources, checks } = await openDeliveries(scan, { workDir: 'tmp/ocsge' });
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import gdal from 'gdal-async';
import { UserError } from '../core/errors.js';
import type { IgnDifferenceSource } from '../core/types.js';
import { isLambert93, layerKind, parseDeliveryName, PRODUCT_LAYER, type DeliveryName, type DeliveryProduct, type LayerKind } from './delivery-names.js';
import { extractArchive, listArchive } from './seven-zip.js';
import { openDataset } from '../core/datasets.js';
import type { VintageSource } from './source.js';

/** One archive or extracted folder. */
interface Delivery {
  /** Absolute path of the archive or folder. */
  path: string;
  /** Path relative to the scanned folder, as listed. */
  relative: string;
  kind: 'archive' | 'folder';
  name: DeliveryName;
  /** Data files inside, relative to the archive root or folder, '/'-separated, with their kind. */
  layers: Array<{ file: string; kind: LayerKind }>;
}

/** One line of the listing: what was found, and whether it is used. */
export interface DeliveryEntry {
  path: string;
  status: 'used' | 'ignored' | 'refused';
  /** `OCS GE 67 2021 GPKG`, or the layer file. */
  what: string;
  reason: string;
}

/** A layer chosen from a delivery. */
export interface ChosenLayer {
  delivery: Delivery;
  file: string;
  departement: string;
  years: number[];
  product: DeliveryProduct;
}

export interface DeliveryScan {
  dir: string;
  entries: DeliveryEntry[];
  /** One per département and millésime, sorted. */
  vintages: ChosenLayer[];
  /** IGN difference layers matching a pair of the département's millésimes, sorted. */
  checks: ChosenLayer[];
}

const PRODUCT_LABEL: Record<DeliveryProduct, string> = { ocsge: 'OCS GE', diff: 'OCS GE difference', artif: 'ARTIFICIALISATION', zan_evol: 'ARTIFICIALISATION difference' };

const describe = (name: DeliveryName): string =>
  `${PRODUCT_LABEL[name.product]} ${name.departement} ${name.years.join('-')} ${name.format} ${name.crs}`;

/** `archive.7z!member` inside an archive, `folder/member` inside an extracted folder. */
const memberPath = (delivery: Delivery, file: string): string => `${delivery.relative}${delivery.kind === 'archive' ? '!' : '/'}${file}`;

const posix = (file: string): string => file.split(path.sep).join('/');

/** Walks `dir` (but not `skip`), reads archive listings and folder trees, and chooses the layers to use. */
export async function scanDeliveries(dir: string, options: { skip?: string } = {}): Promise<DeliveryScan> {
  const root = path.resolve(dir);
  // A --cache folder inside DIR holds extracted copies: they are not deliveries.
  const skip = options.skip === undefined ? null : path.resolve(options.skip);
  const entries: DeliveryEntry[] = [];
  const deliveries: Delivery[] = [];
  let top: string[];
  try {
    top = await readdir(root);
  } catch {
    throw new UserError('folder of OCS GE deliveries not found', { file: dir, remedy: 'pass --ocsge DIR, the folder holding the downloaded 7z archives or their extracted folders' });
  }
  await walk(root, top);
  if (deliveries.length === 0 && entries.length === 0) {
    throw new UserError('no OCS GE delivery found (expected e.g. OCS-GE_2-0__GPKG_LAMB93_D067_2021-01-01.7z)', { file: dir });
  }
  return choose(root, deliveries, entries);

  async function walk(folder: string, names: string[]): Promise<void> {
    for (const entry of [...names].sort()) {
      const full = path.join(folder, entry);
      if (full === skip) continue;
      const relative = posix(path.relative(root, full));
      const isDir = (await stat(full)).isDirectory();
      const name = parseDeliveryName(entry);
      if (isDir) {
        if (name) deliveries.push({ path: full, relative, kind: 'folder', name, layers: withKinds(await filesUnder(full)) });
        else await walk(full, await readdir(full));
      } else if (/\.7z$/i.test(entry)) {
        if (name) deliveries.push({ path: full, relative, kind: 'archive', name, layers: withKinds(await listArchive(full)) });
        else entries.push({ path: relative, status: 'ignored', what: entry, reason: 'not an OCS GE delivery name (expected e.g. OCS-GE_2-0__GPKG_LAMB93_D067_2021-01-01.7z)' });
      } else {
        entries.push({ path: relative, status: 'ignored', what: entry, reason: 'neither a 7z archive nor a delivery folder' });
      }
    }
  }
}

async function filesUnder(folder: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(folder, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) found.push(posix(path.relative(folder, path.join(entry.parentPath, entry.name))));
  }
  return found.sort();
}

function withKinds(files: string[]): Delivery['layers'] {
  return files.flatMap((file) => {
    const kind = layerKind(path.posix.basename(file));
    return kind ? [{ file, kind }] : [];
  });
}

const FORMAT_RANK = { GPKG: 0, SHP: 1 } as const;

function choose(root: string, deliveries: Delivery[], entries: DeliveryEntry[]): DeliveryScan {
  // Preference among deliveries of the same product, département and years.
  const rank = (d: Delivery): [number, number, string] => [FORMAT_RANK[d.name.format], d.kind === 'folder' ? 0 : 1, d.relative];
  const sorted = [...deliveries].sort((a, b) => {
    const [fa, ka, pa] = rank(a);
    const [fb, kb, pb] = rank(b);
    return fa - fb || ka - kb || (pa < pb ? -1 : pa > pb ? 1 : 0);
  });
  const chosen = new Map<string, ChosenLayer>();
  for (const delivery of sorted) {
    const { name } = delivery;
    const what = describe(name);
    if (!isLambert93(name)) {
      entries.push({ path: delivery.relative, status: 'refused', what, reason: `overseas delivery in ${name.crs}: areas are computed in Lambert-93 only, which is wrong there; leave it out until local projected CRSs are supported` });
      continue;
    }
    const wanted = PRODUCT_LAYER[name.product];
    const layers = delivery.layers.filter((l) => l.kind === wanted);
    for (const other of delivery.layers.filter((l) => l.kind !== wanted)) {
      entries.push({ path: memberPath(delivery, other.file), status: 'ignored', what: other.kind, reason: other.kind === 'zone_construite' ? 'built-up envelopes are not needed' : `a ${other.kind} layer in a ${PRODUCT_LABEL[name.product]} delivery` });
    }
    if (layers.length !== 1) {
      throw new UserError(`${layers.length === 0 ? 'no' : `${layers.length}`} ${wanted.toUpperCase()} layer${layers.length > 1 ? 's' : ''} in this ${PRODUCT_LABEL[name.product]} delivery`, {
        file: delivery.path,
        remedy: layers.length === 0 ? 'the archive is incomplete: download it again from IGN' : 'keep one per delivery',
      });
    }
    const key = `${name.product}|${name.departement}|${name.years.join('-')}`;
    const previous = chosen.get(key);
    if (previous) {
      entries.push({ path: delivery.relative, status: 'ignored', what, reason: `same delivery as ${previous.delivery.relative}` });
      continue;
    }
    chosen.set(key, { delivery, file: layers[0]!.file, departement: name.departement, years: name.years, product: name.product });
  }

  const byDepYear = (a: ChosenLayer, b: ChosenLayer): number =>
    a.departement.localeCompare(b.departement) || a.years[0]! - b.years[0]! || (a.years[1] ?? 0) - (b.years[1] ?? 0);
  const vintages: ChosenLayer[] = [];
  const millesimes = [...chosen.values()].filter((c) => c.product === 'ocsge' || c.product === 'artif').sort(byDepYear);
  for (const layer of millesimes) {
    const where = memberPath(layer.delivery, layer.file);
    const artif = chosen.get(`artif|${layer.departement}|${layer.years[0]}`);
    if (layer.product === 'ocsge' && artif) {
      entries.push({ path: where, status: 'ignored', what: `vintage ${layer.departement}:${layer.years[0]}`, reason: `the ARTIFICIALISATION product ${artif.delivery.relative} carries the same polygons with IGN's artif` });
      continue;
    }
    vintages.push(layer);
    const rule = layer.product === 'artif' ? "IGN's artif and crit_seuil decide (artif_rule official)" : 'OCCUPATION_SOL alone: the CS×US matrix decides';
    entries.push({ path: where, status: 'used', what: `vintage ${layer.departement}:${layer.years[0]}`, reason: rule });
  }
  const checks: ChosenLayer[] = [];
  for (const layer of [...chosen.values()].filter((c) => c.product === 'diff' || c.product === 'zan_evol').sort(byDepYear)) {
    const where = memberPath(layer.delivery, layer.file);
    const what = `${layer.product} ${layer.departement} ${layer.years.join('→')}`;
    const years = new Set(vintages.filter((v) => v.departement === layer.departement).map((v) => v.years[0]));
    if (!layer.years.every((year) => years.has(year))) {
      entries.push({ path: where, status: 'ignored', what, reason: `no vintage ${layer.years.filter((y) => !years.has(y)).join(', ')} for département ${layer.departement}` });
      continue;
    }
    checks.push(layer);
    entries.push({ path: where, status: 'used', what, reason: 'cross-check only (check_ign_difference), never used as data' });
  }
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { dir: root, entries, vintages, checks };
}

/** The listing printed by `--dry-run` and recorded in run_metadata: one line per entry. */
export function deliveryListing(scan: DeliveryScan): string {
  const lines = scan.entries.map((e) => `${e.status.padEnd(7)}  ${e.what}: ${e.path} (${e.reason})`);
  return `${lines.join('\n')}\n`;
}

/** Refuses a scan holding an overseas delivery, naming it. */
export function assertUsable(scan: DeliveryScan): void {
  const refused = scan.entries.find((e) => e.status === 'refused');
  if (refused) throw new UserError(refused.reason, { file: path.join(scan.dir, refused.path) });
  if (scan.vintages.length === 0) throw new UserError('no OCCUPATION_SOL or ARTIFICIALISATION delivery found', { file: scan.dir, remedy: 'see the listing of --dry-run' });
}

export interface OpenedDeliveries {
  sources: VintageSource[];
  checks: IgnDifferenceSource[];
  /** Archives extracted now, and found already extracted in the cache. */
  extracted: number;
  cached: number;
}

/**
 * Extracts the archives holding a chosen layer (each once: into `cacheDir`, or `workDir` without a
 * cache) and returns the vintage sources, `DEP:YEAR=PATH#layer` as they would be typed by hand.
 */
export async function openDeliveries(scan: DeliveryScan, options: { workDir: string; cacheDir?: string }): Promise<OpenedDeliveries> {
  assertUsable(scan);
  const roots = new Map<string, string>();
  let extracted = 0;
  let cached = 0;
  const rootOf = async (delivery: Delivery): Promise<string> => {
    if (delivery.kind === 'folder') return delivery.path;
    const known = roots.get(delivery.path);
    if (known) return known;
    const result = await extractArchive(delivery.path, path.resolve(options.cacheDir ?? options.workDir));
    if (result.cached) cached++;
    else extracted++;
    roots.set(delivery.path, result.dir);
    return result.dir;
  };
  const located = async (layer: ChosenLayer): Promise<{ file: string; layer: string; origin: string }> => {
    const file = path.join(await rootOf(layer.delivery), ...layer.file.split('/'));
    return { file, layer: layerIn(file, layer, scan.dir), origin: memberPath(layer.delivery, layer.file) };
  };
  const sources: VintageSource[] = [];
  for (const layer of scan.vintages) {
    const found = await located(layer);
    sources.push({ year: layer.years[0]!, departement: layer.departement, path: found.file, layer: found.layer, origin: found.origin });
  }
  const checks: IgnDifferenceSource[] = [];
  for (const layer of scan.checks) {
    const found = await located(layer);
    checks.push({
      departement: layer.departement,
      fromYear: layer.years[0]!,
      toYear: layer.years[1]!,
      product: layer.product as 'diff' | 'zan_evol',
      path: found.file,
      layer: found.layer,
      origin: found.origin,
    });
  }
  return { sources, checks, extracted, cached };
}

/** The layer of the file that holds the chosen product: the one named like the file, else the only one. */
function layerIn(file: string, chosen: ChosenLayer, scanDir: string): string {
  const dataset = openDataset(file);
  try {
    const names: string[] = [];
    dataset.layers.forEach((layer: gdal.Layer) => void names.push(layer.name));
    const stem = path.basename(file).replace(/\.(gpkg|shp)$/i, '').toLowerCase();
    const named = names.find((n) => n.toLowerCase() === stem) ?? names.find((n) => layerKind(`${n}.gpkg`) === PRODUCT_LAYER[chosen.product]);
    const layer = named ?? (names.length === 1 ? names[0] : undefined);
    if (layer === undefined) {
      throw new UserError(`no ${PRODUCT_LAYER[chosen.product]} layer among ${names.join(', ')}`, { file: path.join(scanDir, chosen.delivery.relative), remedy: 'the delivery is incomplete: download it again from IGN' });
    }
    return layer;
  } finally {
    dataset.close();
  }
}
