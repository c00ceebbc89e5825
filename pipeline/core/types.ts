/**
 * Types shared between stages. Each stage module owns its own input/output types; what crosses
 * a stage boundary (staged vintages, pieces, classes) is defined here once.
 */

/** ENAF destinations, grouped like Cerema's land-tax destinations (plus infrastructure detail). */
export const DESTINATIONS = ['habitat', 'activite', 'mixte', 'route', 'ferre', 'autre_infrastructure', 'inconnu'] as const;
export type Destination = (typeof DESTINATIONS)[number];

/** NAF (natural, agricultural, forest) or urbanised, for ENAF consumption; `unclassified` only with --unknown-codes=report. */
export type EnafClass = 'naf' | 'urban' | 'unclassified';

/**
 * Which rule decided the artificialised flag: the CS × US matrix, the producer's `artif` field, the décret's threshold
 * rules (set by the overlay on matrix-classified pieces, pipeline/overlay/thresholds.ts), or none (unclassified).
 */
export type ArtifRule = 'matrix' | 'official' | 'threshold' | 'unclassified';

/** Everything the nomenclature says about one polygon at one vintage. */
export interface LandClasses {
  codeCs: string;
  codeUs: string;
  /** Décret 2023-1096 category 1..10; 0 = unclassified. */
  category: number;
  artificialised: boolean;
  artifRule: ArtifRule;
  /** Imperméabilisé: categories 1 and 2 (CS1.1.1.1, CS1.1.1.2). */
  sealed: boolean;
  enaf: EnafClass;
  /** ENAF destination when urbanised; null when NAF or unclassified. */
  destination: Destination | null;
}

/**
 * Staged vintage: `<stageDir>/vintage-<key>.fgb` (FlatGeobuf, EPSG:2154, single Polygons, spatial index),
 * one feature per source polygon part, with these attribute fields. `key` is the year, or
 * `<dep>-<year>` when vintages are given per département.
 */
export const STAGED_FIELDS = {
  src_id: 'string', // source feature id (ID field, else the OGR FID)
  code_cs: 'string',
  code_us: 'string',
  category: 'integer',
  artif: 'integer', // 0/1
  artif_rule: 'string',
  sealed: 'integer', // 0/1
  enaf: 'string',
  destination: 'string', // '' when NAF or unclassified
  area_m2: 'real',
} as const;

/** One staged vintage as recorded in `<stageDir>/manifest.json`. */
export interface StagedVintage {
  /** Vintage year (millésime). */
  year: number;
  /** Département code when this vintage covers only one département's communes; null = applies everywhere. */
  departement: string | null;
  /** Staging key used in the file name: `2019` or `67-2018`. */
  key: string;
  path: string;
  source: { path: string; layer: string; sha256: string; crs: string };
  features: number;
  areaM2: number;
  repairs: Record<string, number>;
  countsByCategory: Record<string, number>;
}

export interface StageManifest {
  crs: 'EPSG:2154';
  nomenclatureVersion: string;
  profile: string;
  vintages: StagedVintage[];
}

/**
 * An IGN difference layer of an `--ocsge` delivery, compared with our changes in `check_ign_difference`:
 * `diff` (OCS GE, CS/US changes) or `zan_evol` (ARTIFICIALISATION, `artificialisation` = 1 or −1).
 */
export interface IgnDifferenceSource {
  departement: string;
  fromYear: number;
  toYear: number;
  product: 'diff' | 'zan_evol';
  path: string;
  layer: string;
  /** `archive!member` or folder path, relative to the scanned folder. */
  origin: string;
}
