/**
 * Territories stage: commune polygons from any OGR source, reprojected to EPSG:2154, repaired and
 * turned into a clean partition, with the commune → EPCI → (SCoT) → département → région membership
 * of `@etalab/decoupage-administratif`.
 *
 * Clean partition rule (docs/OVERLAY.md): an area claimed by several communes goes to the lowest INSEE
 * code; a hole inside the union of communes goes to the adjacent commune sharing the longest boundary
 * with it. Both are measured in `report`.
 *
 * @example
 *   const t = await readTerritories({ path: 'communes.geojson', scotCsv: 'scot.csv' });
 *   t.communes[0]; // { code: '54001', name: 'Abaucourt', departement: '54', geomWkb, area_m2 }
 */
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import Flatbush from 'flatbush';
import gdal from 'gdal-async';
import { UserError } from '../core/errors.js';
import { areaOf, lengthOf, multiPolygon, polygonalParts, robustDifference, robustIntersection, unionAll, unionMembers, type MemberUnion } from '../core/polygons.js';
import { splitLayer } from '../core/datasets.js';
import { resolveCrs, toLambert93 } from '../core/coordinates.js';
import type { TerritoryLevel } from '../core/territory-levels.js';


export interface Commune {
  code: string;
  name: string;
  departement: string;
  /** Cleaned geometry (Polygon or MultiPolygon), EPSG:2154, WKB. */
  geomWkb: Buffer;
  area_m2: number;
}

export interface MembershipRow {
  commune_code: string;
  level: TerritoryLevel;
  code: string;
  name: string;
}

export interface TerritoriesReport {
  communes: number;
  /** Areas claimed by several communes, given to the lowest code. */
  overlaps: number;
  overlaps_m2: number;
  /** Holes inside the union of communes, given to a neighbour. */
  gaps: number;
  gaps_m2: number;
  /** Invalid commune geometries repaired with make-valid. */
  repaired: number;
  /** Commune codes absent from the membership data (merged since): computed at commune level only. */
  unmatched_communes: string[];
  /** SCoT CSV rows naming a commune that is not in the territories. */
  scot_unknown_communes: string[];
}

export interface Territories {
  communes: Commune[];
  levels: MembershipRow[];
  report: TerritoriesReport;
}

export interface ReadTerritoriesInput {
  /** OGR source, `PATH[#layer]`. */
  path: string;
  codeField?: string;
  nameField?: string;
  /** CSV with header `commune_code,scot_code,scot_name`. */
  scotCsv?: string;
  /** Keeps only the communes whose INSEE code passes. */
  communeFilter?: (code: string) => boolean;
}

interface CogCommune {
  code: string;
  nom: string;
  departement?: string;
  region?: string;
  type: string;
}
interface CogEpci {
  code: string;
  nom: string;
  membres: Array<{ code: string }>;
}
interface CogArea {
  code: string;
  nom: string;
  region?: string;
}

const require = createRequire(import.meta.url);

let cogCommunes: Map<string, CogCommune> | null = null;
/** Current communes of the COG by code (loaded once: the file is large). */
function currentCommunes(): Map<string, CogCommune> {
  if (!cogCommunes) {
    cogCommunes = new Map();
    for (const c of require('@etalab/decoupage-administratif/data/communes.json') as CogCommune[]) {
      if (c.type === 'commune-actuelle') cogCommunes.set(c.code, c);
    }
  }
  return cogCommunes;
}

/** Département of an INSEE code when the COG does not know it: 3 characters overseas (97x), else 2 (2A/2B included). */
export function departementOfCode(code: string): string {
  return code.startsWith('97') ? code.slice(0, 3) : code.slice(0, 2);
}

interface RawCommune {
  code: string;
  name: string;
  geom: gdal.Geometry;
}

function readCommunes(options: ReadTerritoriesInput, report: TerritoriesReport): RawCommune[] {
  const { path: file, layer: layerName } = splitLayer(options.path);
  const codeField = options.codeField ?? 'code';
  const nameField = options.nameField ?? 'nom';
  if (!existsSync(file)) throw new UserError('commune file not found', { file, remedy: 'check --communes' });
  let dataset: gdal.Dataset;
  try {
    dataset = gdal.open(file);
  } catch (error) {
    throw new UserError(`cannot open commune source: ${(error as Error).message}`, { file });
  }
  try {
    let layer: gdal.Layer;
    try {
      layer = layerName !== undefined ? dataset.layers.get(layerName) : dataset.layers.get(0);
    } catch {
      throw new UserError('layer not found', { file, layer: layerName, remedy: 'name an existing layer after #' });
    }
    if (!layer) throw new UserError('layer not found', { file, layer: layerName, remedy: 'name an existing layer after #' });
    const fields = layer.fields.getNames();
    for (const field of [codeField, nameField]) {
      if (!fields.includes(field)) {
        throw new UserError(`field ${field} not found (fields: ${fields.join(', ')})`, {
          file,
          layer: layer.name,
          remedy: 'pass --code-field / --name-field',
        });
      }
    }
    if (!layer.srs) throw new UserError('commune layer has no CRS', { file, layer: layer.name, remedy: 'assign one with ogr2ogr -a_srs' });
    // Checked as OCS layers are: degrees declared as Lambert-93 would give communes of 0 m².
    const { transform } = resolveCrs(layer, file, undefined, (feature) => String(feature.fields.get(codeField) ?? feature.fid));
    const out: RawCommune[] = [];
    const seen = new Set<string>();
    for (const feature of layer.features) {
      const code = String(feature.fields.get(codeField) ?? '').trim();
      if (!code) throw new UserError('commune without code', { file, layer: layer.name, feature: feature.fid });
      if (options.communeFilter && !options.communeFilter(code)) continue;
      if (seen.has(code)) {
        throw new UserError(`duplicate commune code ${code}`, { file, layer: layer.name, feature: feature.fid, remedy: 'dissolve by code first' });
      }
      seen.add(code);
      let geom = feature.getGeometry();
      if (!geom || geom.isEmpty()) continue;
      const fault = toLambert93(geom, transform);
      if (fault) throw new UserError(fault, { file, layer: layer.name, feature: code, remedy: 'fix or remove this commune' });
      geom.closeRings();
      try {
        if (!geom.isValid()) {
          geom = geom.makeValid();
          report.repaired++;
        }
      } catch (error) {
        // GEOS rejects some shapes before repairing them (a ring of fewer than 4 points…).
        throw new UserError(`a geometry that cannot be repaired: ${(error as Error).message}`, { file, layer: layer.name, feature: code, remedy: 'fix or remove this commune' });
      }
      const parts = polygonalParts(geom);
      if (parts.length === 0) continue;
      out.push({ code, name: String(feature.fields.get(nameField) ?? ''), geom: parts.length === 1 ? parts[0]! : multiPolygon(parts) });
    }
    return out;
  } finally {
    dataset.close();
  }
}

function envelopeIndex(geoms: gdal.Geometry[]): Flatbush {
  const index = new Flatbush(Math.max(geoms.length, 1));
  for (const g of geoms) {
    const e = g.getEnvelope();
    index.add(e.minX, e.minY, e.maxX, e.maxY);
  }
  if (geoms.length === 0) index.add(0, 0, 0, 0);
  index.finish();
  return index;
}

/** Removes overlaps: each commune, in code order, loses what lower codes already hold. */
function removeOverlaps(communes: RawCommune[], report: TerritoriesReport): void {
  const index = envelopeIndex(communes.map((c) => c.geom));
  communes.forEach((commune, i) => {
    const e = commune.geom.getEnvelope();
    const lower = index
      .search(e.minX, e.minY, e.maxX, e.maxY)
      .filter((j) => j < i && communes[j]!.geom.intersects(commune.geom))
      .sort((a, b) => a - b);
    if (lower.length === 0) return;
    const taken = unionAll(lower.flatMap((j) => polygonalParts(communes[j]!.geom)));
    const overlap = taken ? areaOf(robustIntersection(commune.geom, taken)) : 0;
    if (overlap <= 0) return;
    report.overlaps++;
    report.overlaps_m2 += overlap;
    const rest = polygonalParts(robustDifference(commune.geom, taken!));
    commune.geom = rest.length === 1 ? rest[0]! : multiPolygon(rest);
  });
}

/** Gives each hole of the union of communes to the neighbour sharing the longest boundary with it. */
function fillGaps(communes: RawCommune[], report: TerritoriesReport): void {
  const union = unionAll(communes.flatMap((c) => polygonalParts(c.geom)));
  const holes: gdal.Polygon[] = [];
  for (const shell of polygonalParts(union)) {
    for (let r = 1; r < shell.rings.count(); r++) {
      const hole = new gdal.Polygon();
      hole.rings.add(shell.rings.get(r));
      if (hole.getArea() > 0) holes.push(hole);
    }
  }
  if (holes.length === 0) return;
  const index = envelopeIndex(communes.map((c) => c.geom));
  for (const hole of holes) {
    const e = hole.getEnvelope();
    const boundary = hole.boundary();
    const margin = 1e-6 * Math.max(e.maxX - e.minX, e.maxY - e.minY, 1);
    const candidates = index.search(e.minX - margin, e.minY - margin, e.maxX + margin, e.maxY + margin).sort((a, b) => a - b);
    let best = -1;
    let bestLength = 0;
    for (const j of candidates) {
      // Shared boundary: the part of the hole's ring lying on the commune (it cannot enter its interior).
      const length = lengthOf(boundary.intersection(communes[j]!.geom));
      if (length > bestLength) {
        best = j;
        bestLength = length;
      }
    }
    if (best < 0) {
      // Touching at vertices only (rounding): the commune with most area within a thin band around the hole.
      const band = hole.buffer(margin * 10, 4);
      let bestArea = 0;
      for (const j of candidates) {
        const area = areaOf(band.intersection(communes[j]!.geom));
        if (area > bestArea) {
          best = j;
          bestArea = area;
        }
      }
    }
    if (best < 0) continue;
    report.gaps++;
    report.gaps_m2 += hole.getArea();
    const merged = polygonalParts(communes[best]!.geom.union(hole));
    communes[best]!.geom = merged.length === 1 ? merged[0]! : multiPolygon(merged);
  }
}

function readScot(file: string): Map<string, { code: string; name: string }> {
  if (!existsSync(file)) throw new UserError('SCoT CSV not found', { file, remedy: 'check --scot' });
  const lines = readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
  const split = (line: string): string[] => line.split(/[,;]/).map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
  const header = split(lines[0] ?? '');
  const [ci, si, ni] = ['commune_code', 'scot_code', 'scot_name'].map((h) => header.indexOf(h));
  if (ci! < 0 || si! < 0 || ni! < 0) {
    throw new UserError(`SCoT CSV header must hold commune_code, scot_code, scot_name (found: ${header.join(', ')})`, { file });
  }
  const map = new Map<string, { code: string; name: string }>();
  lines.slice(1).forEach((line, i) => {
    const cells = split(line);
    const commune = cells[ci!] ?? '';
    if (!commune || !cells[si!]) throw new UserError('empty commune_code or scot_code', { file, feature: `line ${i + 2}` });
    map.set(commune, { code: cells[si!]!, name: cells[ni!] ?? '' });
  });
  return map;
}

function membership(communes: Commune[], scot: Map<string, { code: string; name: string }> | null, report: TerritoriesReport): MembershipRow[] {
  const cog = currentCommunes();
  const epciOf = new Map<string, { code: string; name: string }>();
  for (const e of require('@etalab/decoupage-administratif/data/epci.json') as CogEpci[]) {
    for (const m of e.membres) epciOf.set(m.code, { code: e.code, name: e.nom });
  }
  const departements = new Map<string, CogArea>();
  for (const d of require('@etalab/decoupage-administratif/data/departements.json') as CogArea[]) departements.set(d.code, d);
  const regions = new Map<string, CogArea>();
  for (const r of require('@etalab/decoupage-administratif/data/regions.json') as CogArea[]) regions.set(r.code, r);

  const rows: MembershipRow[] = [];
  for (const commune of communes) {
    rows.push({ commune_code: commune.code, level: 'commune', code: commune.code, name: commune.name });
    const known = cog.get(commune.code);
    if (!known) report.unmatched_communes.push(commune.code);
    const epci = epciOf.get(commune.code);
    if (epci) rows.push({ commune_code: commune.code, level: 'epci', code: epci.code, name: epci.name });
    const s = scot?.get(commune.code);
    if (s) rows.push({ commune_code: commune.code, level: 'scot', code: s.code, name: s.name });
    const dep = departements.get(commune.departement);
    rows.push({ commune_code: commune.code, level: 'departement', code: commune.departement, name: dep?.nom ?? '' });
    const regionCode = known?.region ?? dep?.region;
    const region = regionCode ? regions.get(regionCode) : undefined;
    if (regionCode) rows.push({ commune_code: commune.code, level: 'region', code: regionCode, name: region?.nom ?? '' });
  }
  if (scot) {
    const codes = new Set(communes.map((c) => c.code));
    report.scot_unknown_communes = [...scot.keys()].filter((c) => !codes.has(c)).sort();
  }
  return rows;
}

/** Reads, cleans and attaches membership to the communes of `options.path`. */
export async function readTerritories(options: ReadTerritoriesInput): Promise<Territories> {
  const report: TerritoriesReport = {
    communes: 0,
    overlaps: 0,
    overlaps_m2: 0,
    gaps: 0,
    gaps_m2: 0,
    repaired: 0,
    unmatched_communes: [],
    scot_unknown_communes: [],
  };
  const scot = options.scotCsv ? readScot(options.scotCsv) : null;
  const raw = readCommunes(options, report).sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
  if (raw.length === 0) throw new UserError('no commune polygon selected', { file: options.path, remedy: 'check the source and the commune filter' });
  removeOverlaps(raw, report);
  fillGaps(raw, report);
  const cog = currentCommunes();
  const communes: Commune[] = raw
    .filter((c) => !c.geom.isEmpty())
    .map((c) => ({
      code: c.code,
      name: c.name,
      departement: cog.get(c.code)?.departement ?? departementOfCode(c.code),
      geomWkb: c.geom.toWKB(),
      area_m2: areaOf(c.geom),
    }));
  report.communes = communes.length;
  return { communes, levels: membership(communes, scot, report), report };
}

export type TerritoryGeometry = MemberUnion<TerritoryLevel>;

/** One geometry per territory of every level: communes as cleaned, higher levels as the union of their members. */
export function territoryGeometries(territories: Territories): TerritoryGeometry[] {
  return unionMembers(territories.levels, new Map(territories.communes.map((c) => [c.code, c.geomWkb])));
}
