/**
 * IGN OCS GE delivery names (../shared/reference/FORMATS.md §3): what an archive or folder name says
 * about its product, département, millésime(s), format and CRS, and what a file inside holds.
 *
 * @example
 *   parseDeliveryName('OCS-GE_2-0__GPKG_LAMB93_D067_2021-01-01.7z');
 *   // { product: 'ocsge', departement: '67', years: [2021], format: 'GPKG', crs: 'LAMB93' }
 *   parseDeliveryName('OCS-GE-ARTIFICIALISATION_2-0_DIFF-2018-2021_GPKG_LAMB93_D067_2025-09-16.7z');
 *   // { product: 'zan_evol', departement: '67', years: [2018, 2021], … }
 */

/** ocsge: OCCUPATION_SOL millésime; diff: CS/US difference; artif: ARTIFICIALISATION millésime; zan_evol: its difference. */
export type DeliveryProduct = 'ocsge' | 'diff' | 'artif' | 'zan_evol';

export interface DeliveryName {
  product: DeliveryProduct;
  /** INSEE département code: '67', '2A', '971'. */
  departement: string;
  /** The millésime, or both years of a difference product. */
  years: number[];
  format: 'GPKG' | 'SHP';
  /** CRS token of the name: LAMB93, or an overseas UTM one (RGAF09UTM20, RGFG95UTM22, RGR92UTM40S, RGM04UTM38S). */
  crs: string;
}

/**
 * Parses an archive or folder name (`.7z` and any extension dropped). Null when the name is not an
 * OCS GE delivery: `OCS-GE_2-0__GPKG_LAMB93_D067_2021-01-01`, `OCS-GE_2-0__SHP_LAMB93_D075_DIFF_2018-2021`,
 * `OCS-GE_2-0_DIFF_SHP_LAMB93_D094_2018-2021`, `OCSGE_2-0_GPKG_LAMB93_D67-2021` (the folder inside),
 * `OCS-GE-ARTIFICIALISATION_2-0__GPKG_LAMB93_D067_2021-01-01`,
 * `OCS-GE-ARTIFICIALISATION_2-0_DIFF-2018-2021_GPKG_LAMB93_D067_2025-09-16` (the last date is the publication).
 */
export function parseDeliveryName(name: string): DeliveryName | null {
  const upper = name.toUpperCase().replace(/\.7Z$/, '');
  if (!/^OCS-?GE/.test(upper)) return null;
  const formatCrs = /_(GPKG|SHP)_([A-Z0-9]+)_/.exec(upper);
  const dep = /_D(\d{2,3}|0?2[AB])(?=[_-]|$)/.exec(upper);
  if (!formatCrs || !dep) return null;
  const artif = upper.includes('ARTIFICIALISATION');
  const diff = /(^|[_-])DIFF([_-]|$)/.test(upper);
  let years: number[];
  const diffYears = /DIFF[-_](\d{4})-(\d{4})/.exec(upper);
  if (diffYears) {
    years = [Number(diffYears[1]), Number(diffYears[2])];
  } else {
    const after = /^[_-](\d{4})(?:-(\d{4})(?!-))?/.exec(upper.slice(dep.index + dep[0].length));
    if (!after) return null;
    years = after[2] ? [Number(after[1]), Number(after[2])] : [Number(after[1])];
  }
  const product: DeliveryProduct = artif ? (diff ? 'zan_evol' : 'artif') : diff ? 'diff' : 'ocsge';
  if ((product === 'diff' || product === 'zan_evol') !== (years.length === 2)) return null;
  return { product, departement: departementCode(dep[1]!), years, format: formatCrs[1] as 'GPKG' | 'SHP', crs: formatCrs[2]! };
}

/** `067` → `67`, `02A` → `2A`, `971` stays. */
function departementCode(raw: string): string {
  return raw.length === 3 && raw.startsWith('0') ? raw.slice(1) : raw;
}

/** Metropolitan deliveries are in Lambert-93; the overseas ones in a local UTM CRS. */
export const isLambert93 = (name: DeliveryName): boolean => name.crs === 'LAMB93';

/** What a data file inside a delivery holds, from its name (file stem, any case). */
export type LayerKind = 'occupation_sol' | 'zone_construite' | 'diff' | 'artif' | 'zan_evol';

/** The layer kind of a `.gpkg`/`.shp` file name, or null (another file of the delivery). */
export function layerKind(fileName: string): LayerKind | null {
  const match = /^(.*)\.(gpkg|shp)$/i.exec(fileName);
  if (!match) return null;
  const stem = match[1]!.toUpperCase();
  if (stem === 'OCCUPATION_SOL') return 'occupation_sol';
  if (stem === 'ZONE_CONSTRUITE') return 'zone_construite';
  if (stem.includes('ZAN_EVOL')) return 'zan_evol';
  if (/^ARTIF_\d{4}_[0-9AB]{2,3}$/.test(stem)) return 'artif';
  if (stem.includes('DIFF')) return 'diff';
  return null;
}

/** The layer kind each product is read from. */
export const PRODUCT_LAYER: Record<DeliveryProduct, LayerKind> = { ocsge: 'occupation_sol', diff: 'diff', artif: 'artif', zan_evol: 'zan_evol' };
