/**
 * Replays the example cases stored beside each table and profile (`<name>.spec.yml`, planetiler style):
 *
 *   cases:
 *     - input: {cs: CS2.2.1, us: US6.1}
 *       expect: {category: 5, artificialised: true}
 *
 * `expect` lists only the fields that matter (or is null: the input is unknown). Used by the tests and by
 * `ocs-zan nomenclature check`, so a table change that breaks a documented example fails in CI.
 */
import { existsSync, readdirSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import path from 'node:path';
import { classify } from './classify.js';
import { DEFAULT_NOMENCLATURE_DIR, listProfiles, loadNomenclature, loadProfile, TABLE_FILES, type Nomenclature, type Profile } from './loader.js';
import { isRecord, readYamlFile, tableError, yamlSeq } from './table-files.js';
import { loadZanRules, ZAN_RULES_FILE } from './zan-rules.js';

export interface SpecReport {
  file: string;
  cases: number;
}

/** Every spec file of a nomenclature directory and its profiles/ folder, sorted. */
export function specFiles(dir: string = DEFAULT_NOMENCLATURE_DIR): string[] {
  return [dir, path.join(dir, 'profiles')]
    .filter((folder) => existsSync(folder))
    .flatMap((folder) => readdirSync(folder).filter((name) => name.endsWith('.spec.yml')).sort().map((name) => path.join(folder, name)));
}

type Evaluate = (input: Record<string, unknown>, fail: (message: string) => never) => unknown;

/** What a spec's inputs mean, from the table it sits beside. */
function evaluatorFor(file: string, nomenclature: Nomenclature): Evaluate {
  const base = path.basename(file, '.spec.yml');
  const stringField = (input: Record<string, unknown>, key: string, fail: (message: string) => never): string => {
    if (typeof input[key] !== 'string') fail(`input.${key} must be a string`);
    return input[key] as string;
  };
  if (path.basename(path.dirname(file)) === 'profiles') {
    const profile: Profile = loadProfile(path.join(path.dirname(file), `${base}.yml`), nomenclature.dir);
    return (input, fail) => {
      const values: Record<string, string> = {};
      for (const role of Object.keys(profile.roles)) values[role] = stringField(input, role, fail);
      return classify(nomenclature, profile, values);
    };
  }
  const hierarchy = (map: ReadonlyMap<string, unknown>, normalise: (raw: string) => string | null, parents: Set<string | null>): Evaluate => {
    return (input, fail) => {
      const code = normalise(stringField(input, 'code', fail));
      return code && { ...(map.get(code) as object), leaf: !parents.has(code) };
    };
  };
  const parentsOf = (map: ReadonlyMap<string, { parent: string | null }>) => new Set([...map.values()].map((entry) => entry.parent));
  switch (base) {
    case path.basename(TABLE_FILES.couverture, '.csv'):
      return hierarchy(nomenclature.couverture, nomenclature.normaliseCs, parentsOf(nomenclature.couverture));
    case path.basename(TABLE_FILES.usage, '.csv'):
      return hierarchy(nomenclature.usage, nomenclature.normaliseUs, parentsOf(nomenclature.usage));
    case path.basename(TABLE_FILES.categories, '.csv'):
      return (input, fail) => {
        if (typeof input['num'] !== 'number') fail('input.num must be a number');
        return nomenclature.categories.find((category) => category.num === input['num']) ?? null;
      };
    case path.basename(TABLE_FILES.matrix, '.csv'):
      return (input, fail) => {
        const classes = nomenclature.classify(stringField(input, 'cs', fail), stringField(input, 'us', fail));
        return classes && { artificialised: classes.artificialised };
      };
    case path.basename(TABLE_FILES.rules, '.yml'):
      return (input, fail) => {
        const official = input['official'];
        if (official !== undefined && official !== null && typeof official !== 'boolean') fail('input.official must be true, false or null');
        return nomenclature.classify(stringField(input, 'cs', fail), stringField(input, 'us', fail), official as boolean | null | undefined);
      };
    case path.basename(ZAN_RULES_FILE, '.yml'): {
      const rules = loadZanRules(nomenclature.dir);
      const parameters: Record<string, number> = {
        commune_guarantee_m2: rules.trajectory.communeGuaranteeM2,
        default_reduction: rules.trajectory.defaultReduction,
        patch_max_m2: rules.thresholds.patchMaxM2,
        building_min_m2: rules.thresholds.buildingMinM2,
      };
      return (input, fail) => {
        if ('document' in input) {
          const eligible = rules.documentEligible(stringField(input, 'document', fail));
          return eligible === null ? null : { eligible };
        }
        const value = parameters[stringField(input, 'parameter', fail)];
        return value === undefined ? null : { value };
      };
    }
    default:
      return tableError(file, undefined, `no table named ${base} beside this spec file`);
  }
}

/** Replays one spec file; the first failing case throws a UserError at its line. */
export function replaySpec(file: string, nomenclature: Nomenclature = loadNomenclature()): SpecReport {
  const evaluate = evaluatorFor(file, nomenclature);
  const cases = yamlSeq(readYamlFile(file), ['cases']);
  cases.forEach(({ line, value }, i) => {
    const fail = (message: string): never => tableError(file, line, `case ${i + 1}: ${message}`);
    if (!isRecord(value) || !isRecord(value['input']) || !('expect' in value)) return fail('must have input (a mapping) and expect');
    const { input, expect } = value as { input: Record<string, unknown>; expect: unknown };
    const actual = evaluate(input, fail);
    if (expect === null) {
      if (actual !== null) fail(`${JSON.stringify(input)} should be unknown, got ${JSON.stringify(actual)}`);
      return;
    }
    if (!isRecord(expect)) return fail('expect must be a mapping or null');
    if (actual === null || typeof actual !== 'object') return fail(`${JSON.stringify(input)} is unknown, expected ${JSON.stringify(expect)}`);
    for (const [key, expected] of Object.entries(expect)) {
      if (!(key in actual)) fail(`unknown field "${key}" in expect`);
      const got = (actual as Record<string, unknown>)[key];
      if (!isDeepStrictEqual(got, expected)) fail(`${JSON.stringify(input)}: ${key} is ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
    }
  });
  return { file, cases: cases.length };
}

export interface CheckReport {
  nomenclature: Nomenclature;
  profiles: Profile[];
  specs: SpecReport[];
}

/** Loads the tables and every profile of `dir`, then replays every spec file: what `nomenclature check` runs. */
export function checkNomenclature(dir: string = DEFAULT_NOMENCLATURE_DIR): CheckReport {
  const nomenclature = loadNomenclature(dir);
  loadZanRules(nomenclature.dir);
  const profiles = listProfiles(nomenclature.dir).map((name) => loadProfile(name, nomenclature.dir));
  const specs = specFiles(nomenclature.dir).map((file) => replaySpec(file, nomenclature));
  return { nomenclature, profiles, specs };
}
