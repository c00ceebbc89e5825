/**
 * ZAN rules (nomenclature/zan-rules.yml): the trajectory parameters and the threshold rules, read and checked
 * once (UserError `file:line` on a bad value), cached per directory.
 *
 * @example
 * const rules = loadZanRules();
 * rules.trajectory.defaultReduction; // 0.5
 * rules.documentEligible('PLUi');    // true; 'RNU' → false; unknown → null
 */
import path from 'node:path';
import { DEFAULT_NOMENCLATURE_DIR } from './loader.js';
import { isRecord, readYamlFile, tableError, yamlLine } from './table-files.js';

export const ZAN_RULES_FILE = 'zan-rules.yml';

export interface ZanRules {
  version: string;
  file: string;
  trajectory: {
    /** [start, end): 1 Jan start → 1 Jan end. */
    reference: [number, number];
    allowance: [number, number];
    defaultReduction: number;
    communeGuaranteeM2: number;
    guaranteeDocuments: readonly string[];
    notEligibleDocuments: readonly string[];
    ocsReference: { minOverlapYears: number; maxOutsideShare: number };
  };
  thresholds: {
    patchMaxM2: number;
    buildingCs: readonly string[];
    buildingMinM2: number;
  };
  /** true: the document opens the garantie communale; false: a known document that does not (RNU); null: unknown. */
  documentEligible(document: string): boolean | null;
}

const cache = new Map<string, ZanRules>();

export function loadZanRules(dir: string = DEFAULT_NOMENCLATURE_DIR): ZanRules {
  const file = path.join(path.resolve(dir), ZAN_RULES_FILE);
  let rules = cache.get(file);
  if (!rules) {
    rules = readZanRules(file);
    cache.set(file, rules);
  }
  return rules;
}

function readZanRules(file: string): ZanRules {
  const yaml = readYamlFile(file);
  const root = yaml.doc.toJSON() as unknown;
  if (!isRecord(root)) tableError(file, 1, 'must be a mapping with version, trajectory and thresholds');
  const at = (keys: string[]): Record<string, unknown> => {
    let node: unknown = root;
    for (const key of keys) node = isRecord(node) ? node[key] : undefined;
    if (!isRecord(node)) tableError(file, yamlLine(yaml, keys.slice(0, -1)), `"${keys.join('.')}" must be a mapping`);
    return node;
  };
  const number = (keys: string[], min: number, max: number): number => {
    const value = at(keys.slice(0, -1))[keys[keys.length - 1]!];
    if (typeof value !== 'number' || !(value >= min && value <= max)) tableError(file, yamlLine(yaml, keys), `"${keys.join('.')}" must be a number from ${min} to ${max}`);
    return value;
  };
  const list = (keys: string[]): string[] => {
    const value = at(keys.slice(0, -1))[keys[keys.length - 1]!];
    if (!Array.isArray(value) || value.length === 0 || value.some((v) => typeof v !== 'string')) tableError(file, yamlLine(yaml, keys), `"${keys.join('.')}" must be a list of names`);
    return (value as string[]).map((v) => v.trim().toUpperCase());
  };
  const period = (name: string): [number, number] => {
    const start = number(['trajectory', name, 'start'], 1900, 2100);
    const end = number(['trajectory', name, 'end'], start + 1, 2100);
    return [start, end];
  };
  const version = root['version'];
  if (typeof version !== 'string' || version === '') tableError(file, 1, '"version" must be a non-empty string');
  const guaranteeDocuments = list(['trajectory', 'guarantee_documents']);
  const notEligibleDocuments = list(['trajectory', 'not_eligible_documents']);
  const both = guaranteeDocuments.find((d) => notEligibleDocuments.includes(d));
  if (both) tableError(file, yamlLine(yaml, ['trajectory', 'not_eligible_documents']), `${both} is listed as eligible and not eligible`);
  return {
    version,
    file,
    trajectory: {
      reference: period('reference'),
      allowance: period('allowance'),
      defaultReduction: number(['trajectory', 'default_reduction'], 0, 1),
      communeGuaranteeM2: number(['trajectory', 'commune_guarantee_m2'], 0, 1e9),
      guaranteeDocuments,
      notEligibleDocuments,
      ocsReference: {
        minOverlapYears: number(['trajectory', 'ocs_reference', 'min_overlap_years'], 1, 100),
        maxOutsideShare: number(['trajectory', 'ocs_reference', 'max_outside_share'], 0, 1),
      },
    },
    thresholds: {
      patchMaxM2: number(['thresholds', 'patch_max_m2'], 0, 1e9),
      buildingCs: list(['thresholds', 'building_cs']),
      buildingMinM2: number(['thresholds', 'building_min_m2'], 0, 1e9),
    },
    documentEligible(document) {
      const name = document.trim().toUpperCase();
      if (guaranteeDocuments.includes(name)) return true;
      return notEligibleDocuments.includes(name) ? false : null;
    },
  };
}
