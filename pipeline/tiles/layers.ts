/**
 * What goes into each tile layer: `landuse_<vintage>` (a piece's class at that vintage),
 * `change_<from>_<to>` (pieces whose class changed between two of their vintages: each consecutive
 * pair, plus first → last when there are more than two) and `territory_<level>` (polygons with
 * headline indicators). The field lists here are also the `vector_layers` metadata.
 */

export interface PieceClass {
  vintage: number;
  code_cs: string;
  code_us: string;
  category: number;
  artificialised: boolean;
  enaf: string;
  destination: string | null;
}

export type ChangeKind = 'artificialisation' | 'desartificialisation' | 'enaf_consumption' | 'renaturation' | 'other';

type FieldType = 'String' | 'Number' | 'Boolean';

export const LANDUSE_FIELDS: Record<string, FieldType> = { code_cs: 'String', code_us: 'String', category: 'Number', artificialised: 'Boolean' };
export const CHANGE_FIELDS: Record<string, FieldType> = {
  kind: 'String',
  enaf: 'String',
  destination: 'String',
  from_category: 'Number',
  to_category: 'Number',
  from_cs: 'String',
  to_cs: 'String',
  from_us: 'String',
  to_us: 'String',
};
export const TERRITORY_FIELDS: Record<string, FieldType> = {
  code: 'String',
  name: 'String',
  coverage_status: 'String',
  area_ha: 'Number',
  artificialised_share: 'Number',
  net_artif_ha: 'Number',
  enaf_consumption_ha: 'Number',
};

/**
 * The single kind shown for a change; artificialisation wins over ENAF consumption when both hold,
 * and the `enaf` field keeps the ENAF side visible ('consumption', 'renaturation' or '').
 */
export function changeKind(from: PieceClass, to: PieceClass): { kind: ChangeKind; enaf: string } | null {
  const consumption = from.enaf === 'naf' && to.enaf === 'urban';
  const renaturation = from.enaf === 'urban' && to.enaf === 'naf';
  const enaf = consumption ? 'consumption' : renaturation ? 'renaturation' : '';
  if (!from.artificialised && to.artificialised) return { kind: 'artificialisation', enaf };
  if (from.artificialised && !to.artificialised) return { kind: 'desartificialisation', enaf };
  if (consumption) return { kind: 'enaf_consumption', enaf };
  if (renaturation) return { kind: 'renaturation', enaf };
  if (from.code_cs !== to.code_cs || from.code_us !== to.code_us || from.category !== to.category) return { kind: 'other', enaf };
  return null;
}

/** Vintage pairs compared for one piece: consecutive ones, and first → last when they differ from those. */
export function changePairs(classes: PieceClass[]): Array<[PieceClass, PieceClass]> {
  const pairs: Array<[PieceClass, PieceClass]> = [];
  for (let i = 1; i < classes.length; i++) pairs.push([classes[i - 1]!, classes[i]!]);
  if (classes.length > 2) pairs.push([classes[0]!, classes[classes.length - 1]!]);
  return pairs;
}

export const landuseLayer = (vintage: number): string => `landuse_${vintage}`;
export const changeLayer = (from: number, to: number): string => `change_${from}_${to}`;
export const territoryLayer = (level: string): string => `territory_${level}`;

export function landuseProperties(c: PieceClass): GeoJSON.GeoJsonProperties {
  return { code_cs: c.code_cs, code_us: c.code_us, category: c.category, artificialised: c.artificialised };
}

export function changeProperties(from: PieceClass, to: PieceClass, kind: { kind: ChangeKind; enaf: string }): GeoJSON.GeoJsonProperties {
  return {
    kind: kind.kind,
    enaf: kind.enaf,
    destination: kind.enaf === 'consumption' ? (to.destination ?? 'inconnu') : '',
    from_category: from.category,
    to_category: to.category,
    from_cs: from.code_cs,
    to_cs: to.code_cs,
    from_us: from.code_us,
    to_us: to.code_us,
  };
}

const round = (value: number, digits: number): number => Math.round(value * 10 ** digits) / 10 ** digits;

/** Territory attributes; absent indicators are left out (MVT has no null). */
export function territoryProperties(row: Record<string, unknown>): GeoJSON.GeoJsonProperties {
  const props: Record<string, string | number> = {};
  for (const key of ['code', 'name', 'coverage_status'] as const) if (row[key] != null) props[key] = String(row[key]);
  for (const key of ['area_ha', 'net_artif_ha', 'enaf_consumption_ha'] as const) if (row[key] != null) props[key] = round(Number(row[key]), 2);
  if (row.artificialised_share != null) props.artificialised_share = round(Number(row.artificialised_share), 6);
  return props;
}
