/**
 * Nomenclature loader: reads and cross-checks the versioned tables in `nomenclature/` and answers
 * "what is this CS × US pair?" (décret 2023-1096 category, artificialised, sealed, ENAF class and
 * destination). Everything is validated and precomputed for the 14 × 20 leaf pairs at load, so a wrong
 * table fails before any heavy work and `classify` is two map look-ups. Loads are synchronous and
 * cached per directory.
 *
 * @example
 *   const nomenclature = loadNomenclature();
 *   nomenclature.classify('CS2.2.1', 'US6.1'); // { category: 5, artificialised: true, enaf: 'urban', destination: 'inconnu', … }
 *   const profile = loadProfile('ocsge');
 *   profile.toCsUs({ cs: 'cs2.2.1', us: 'US6.1' }); // { codeCs: 'CS2.2.1', codeUs: 'US6.1' }
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { UserError } from '../pipeline/core/errors.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';
import { DESTINATIONS, type Destination, type LandClasses } from '../pipeline/core/types.js';
import {
  expectHeader,
  isRecord,
  readCsvTable,
  readYamlFile,
  tableError,
  yamlLine,
  yamlMapEntries,
  yamlSeq,
  type CsvTable,
  type YamlFile,
  type YamlItem,
} from './table-files.js';

export interface CodeEntry {
  code: string;
  level: number;
  parent: string | null;
  label: string;
}

export interface Category {
  num: number;
  label: string;
  artificialised: boolean;
  /**
   * Imperméabilisé (décret categories 1 and 2); `couverture` for category 5 (categories 1–4 in works or
   * abandoned), where the surface's couverture says whether it is sealed.
   */
  sealed: boolean | 'couverture';
}

export interface Nomenclature {
  version: string;
  couverture: ReadonlyMap<string, CodeEntry>;
  usage: ReadonlyMap<string, CodeEntry>;
  categories: readonly Category[];
  /**
   * Classes for a CS×US leaf pair; `officialArtif` (IGN ARTIFICIALISATION `artif` field) overrides the matrix
   * flag and sets artifRule 'official'; when it disagrees with the matrix, the category comes from the
   * `official` rules of ocsge-to-lcr.yml (sealed, ENAF and destination are unchanged). null = unknown pair.
   */
  classify(codeCs: string, codeUs: string, officialArtif?: boolean | null): LandClasses | null;
  /** The explicit class used with --unknown-codes=report (category 0, enaf 'unclassified', artifRule 'unclassified'). */
  unclassified(codeCs: string, codeUs: string): LandClasses;
  /** Canonical couverture code (`CS1.1.1.1`) for a source spelling (`cs1.1.1.1`, `1.1.1.1`, `CS1111`, `1111`), or null. */
  normaliseCs(raw: string): string | null;
  /** Canonical usage code for a source spelling (`us235`, `4.1.1`, `US411`), or null. */
  normaliseUs(raw: string): string | null;
  /** Leaf codes (those found on polygons), in table order. */
  leafCs: readonly string[];
  leafUs: readonly string[];
  /** Version of each table file, by file name (for run metadata). */
  tableVersions: Readonly<Record<string, string>>;
  /** The directory the tables were read from. */
  dir: string;
}

export interface Profile {
  name: string;
  version: string;
  /** role → candidate field names (case-insensitive), e.g. { cs: ['code_cs','couverture'], us: [...] } */
  roles: Readonly<Record<string, readonly string[]>>;
  /** Maps the values of the roles (strings, trimmed) to a CS/US leaf pair, or null when the source code is unknown. */
  toCsUs(values: Readonly<Record<string, string>>): { codeCs: string; codeUs: string } | null;
  /** The profile file. */
  file: string;
}

export const DEFAULT_NOMENCLATURE_DIR = path.join(PROJECT_ROOT, 'nomenclature');

export const TABLE_FILES = {
  couverture: 'ocsge-couverture.csv',
  usage: 'ocsge-usage.csv',
  categories: 'lcr-2023-categories.csv',
  matrix: 'ocsge-artif-matrix.csv',
  rules: 'ocsge-to-lcr.yml',
} as const;

const nomenclatureCache = new Map<string, Nomenclature>();
const profileCache = new Map<string, Profile>();

/** Loads and validates the tables of `dir` (default: the project's nomenclature/ folder); cached per directory. */
export function loadNomenclature(dir: string = DEFAULT_NOMENCLATURE_DIR): Nomenclature {
  const resolved = path.resolve(dir);
  let nomenclature = nomenclatureCache.get(resolved);
  if (!nomenclature) {
    nomenclature = buildNomenclature(resolved);
    nomenclatureCache.set(resolved, nomenclature);
  }
  return nomenclature;
}

// ---------------------------------------------------------------------------------------------
// Code hierarchies

interface Hierarchy {
  entries: Map<string, CodeEntry>;
  leaves: string[];
  spellings: Map<string, string>;
}

function readHierarchy(table: CsvTable, prefix: 'CS' | 'US', withLevel: boolean): Hierarchy {
  expectHeader(table, withLevel ? ['code', 'level', 'parent', 'label'] : ['code', 'parent', 'label']);
  const codePattern = new RegExp(`^${prefix}\\d+(\\.\\d+)*$`);
  const entries = new Map<string, CodeEntry>();
  const lines = new Map<string, number>();
  for (const { line, cells } of table.rows) {
    const code = cells['code']!.toUpperCase();
    if (!codePattern.test(code)) tableError(table.file, line, `malformed code "${cells['code']}" (expected ${prefix} followed by dotted digits)`);
    if (entries.has(code)) tableError(table.file, line, `duplicate code ${code} (first on line ${lines.get(code)})`);
    if (!cells['label']) tableError(table.file, line, `code ${code} has no label`);
    const parent = cells['parent'] ? cells['parent'].toUpperCase() : null;
    const level = withLevel ? Number(cells['level']) : 0;
    if (withLevel && !(Number.isInteger(level) && level >= 1)) tableError(table.file, line, `level "${cells['level']}" of ${code} is not a whole number >= 1`);
    entries.set(code, { code, level, parent, label: cells['label']! });
    lines.set(code, line);
  }
  // Parents may come after their children; levels follow from the parent chain.
  const depth = (code: string, seen: Set<string>): number => {
    const entry = entries.get(code)!;
    if (entry.parent === null) return 1;
    if (!entries.has(entry.parent)) tableError(table.file, lines.get(code), `parent ${entry.parent} of ${code} is not in the table`);
    if (seen.has(entry.parent)) tableError(table.file, lines.get(code), `parent cycle through ${code}`);
    return depth(entry.parent, new Set(seen).add(code)) + 1;
  };
  for (const entry of entries.values()) {
    const expected = depth(entry.code, new Set([entry.code]));
    if (withLevel && entry.level !== expected) {
      tableError(table.file, lines.get(entry.code), `level of ${entry.code} is ${entry.level} but its parent chain makes it ${expected}`);
    }
    entry.level = expected;
  }
  const parents = new Set([...entries.values()].map((entry) => entry.parent));
  const leaves = [...entries.keys()].filter((code) => !parents.has(code));
  return { entries, leaves, spellings: spellingsOf([...entries.keys()], prefix) };
}

/**
 * Accepted spellings of each code, upper-cased: canonical, without prefix, and without dots (IGN
 * deliveries vary). A dotless spelling shared by two codes is dropped rather than guessed.
 */
function spellingsOf(codes: readonly string[], prefix: string): Map<string, string> {
  const spellings = new Map(codes.map((code) => [code, code]));
  const alternatives = new Map<string, Set<string>>();
  for (const code of codes) {
    const body = code.slice(prefix.length);
    for (const alt of [body, body.replaceAll('.', ''), prefix + body.replaceAll('.', '')]) {
      alternatives.set(alt, (alternatives.get(alt) ?? new Set()).add(code));
    }
  }
  for (const [alt, targets] of alternatives) {
    if (!spellings.has(alt) && targets.size === 1) spellings.set(alt, [...targets][0]!);
  }
  return spellings;
}

// ---------------------------------------------------------------------------------------------
// Categories and matrix

function readCategories(table: CsvTable): Category[] {
  expectHeader(table, ['num', 'artificialised', 'sealed', 'label']);
  const categories: Category[] = [];
  for (const { line, cells } of table.rows) {
    const num = Number(cells['num']);
    if (num !== categories.length + 1) tableError(table.file, line, `category "${cells['num']}" out of order: expected ${categories.length + 1} (categories are numbered 1, 2, … without gaps)`);
    if (!cells['label']) tableError(table.file, line, `category ${num} has no label`);
    categories.push({
      num,
      label: cells['label']!,
      artificialised: yesNo(cells['artificialised']!, table.file, line, 'artificialised'),
      sealed: cells['sealed'] === 'couverture' ? 'couverture' : yesNo(cells['sealed']!, table.file, line, 'sealed (yes, no or couverture)'),
    });
  }
  if (categories.length === 0) tableError(table.file, undefined, 'no categories');
  for (const category of categories) {
    if (category.sealed !== false && !category.artificialised) tableError(table.file, table.rows[category.num - 1]!.line, `category ${category.num} is sealed but not artificialised`);
  }
  return categories;
}

function yesNo(value: string, file: string, line: number, column: string): boolean {
  if (value === 'yes') return true;
  if (value === 'no') return false;
  return tableError(file, line, `${column} must be yes or no, found "${value}"`);
}

/** Matrix CS × US → artificialised, keyed by pairKey; every leaf pair exactly once. */
function readMatrix(table: CsvTable, cs: Hierarchy, us: Hierarchy): Map<string, boolean> {
  const [corner, ...columns] = table.header;
  if (corner !== 'cs') tableError(table.file, table.headerLine, `first header field must be "cs", found "${corner}"`);
  const seenColumns = new Set<string>();
  for (const column of columns) {
    if (!us.leaves.includes(column)) tableError(table.file, table.headerLine, `column ${column} is not a leaf usage code of ${TABLE_FILES.usage}`);
    if (seenColumns.has(column)) tableError(table.file, table.headerLine, `duplicate column ${column}`);
    seenColumns.add(column);
  }
  const missingColumns = us.leaves.filter((code) => !seenColumns.has(code));
  if (missingColumns.length > 0) tableError(table.file, table.headerLine, `pairs not covered: no column for ${missingColumns.join(', ')}`);
  const matrix = new Map<string, boolean>();
  const rowLines = new Map<string, number>();
  for (const { line, cells } of table.rows) {
    const code = cells['cs']!;
    if (!cs.leaves.includes(code)) tableError(table.file, line, `row ${code} is not a leaf couverture code of ${TABLE_FILES.couverture}`);
    if (rowLines.has(code)) tableError(table.file, line, `duplicate row ${code} (first on line ${rowLines.get(code)})`);
    rowLines.set(code, line);
    for (const column of columns) {
      const value = cells[column];
      if (value !== 'A' && value !== 'N') tableError(table.file, line, `${code} × ${column} must be A or N, found "${value}"`);
      matrix.set(pairKey(code, column), value === 'A');
    }
  }
  const missingRows = cs.leaves.filter((code) => !rowLines.has(code));
  if (missingRows.length > 0) tableError(table.file, undefined, `pairs not covered: no row for ${missingRows.join(', ')}`);
  return matrix;
}

/** Precomputed classes of one leaf pair: from the matrix, and with an official flag false / true. */
interface PairClasses {
  matrix: LandClasses;
  official: [LandClasses, LandClasses];
}

const pairKey = (codeCs: string, codeUs: string): string => `${codeCs}|${codeUs}`;

// ---------------------------------------------------------------------------------------------
// Rules (ocsge-to-lcr.yml)

interface Rule<T> {
  index: number;
  line: number | undefined;
  cs: ReadonlySet<string>;
  us: ReadonlySet<string>;
  payload: T;
}

interface RuleContext {
  yaml: YamlFile;
  cs: Hierarchy;
  us: Hierarchy;
}

/** Parses one ordered rule section; `readPayload` checks and returns the rule's own fields. */
function readRules<T>(
  context: RuleContext,
  section: readonly string[],
  payloadKeys: readonly string[],
  readPayload: (rule: Record<string, unknown>, fail: (message: string) => never) => T,
): Rule<T>[] {
  const items: YamlItem[] = yamlSeq(context.yaml, section);
  return items.map(({ line, value }, i) => {
    const index = i + 1;
    const fail = (message: string): never => tableError(context.yaml.file, line, `${section.join('.')} rule ${index}: ${message}`);
    if (!isRecord(value)) return fail('must be a mapping with cs, us, … and why');
    const allowed = ['cs', 'us', 'why', ...payloadKeys];
    for (const key of Object.keys(value)) if (!allowed.includes(key)) fail(`unknown key "${key}" (expected ${allowed.join(', ')})`);
    for (const key of allowed) if (!(key in value)) fail(`missing "${key}"`);
    if (typeof value['why'] !== 'string' || value['why'].trim() === '') fail('"why" must say why the rule holds');
    return {
      index,
      line,
      cs: compilePattern(value['cs'], context.cs, 'cs', fail),
      us: compilePattern(value['us'], context.us, 'us', fail),
      payload: readPayload(value, fail),
    };
  });
}

/** A pattern (`*`, `CODE`, `CODE.*` or a list of them) → the set of leaf codes it matches. */
function compilePattern(pattern: unknown, hierarchy: Hierarchy, role: string, fail: (message: string) => never): Set<string> {
  const parts = Array.isArray(pattern) ? pattern : [pattern];
  if (parts.length === 0) fail(`"${role}" is an empty list`);
  const matched = new Set<string>();
  for (const part of parts) {
    if (typeof part !== 'string') return fail(`"${role}" must be a code pattern or a list of them`);
    if (part === '*') {
      for (const leaf of hierarchy.leaves) matched.add(leaf);
      continue;
    }
    const descendants = part.endsWith('.*');
    const code = descendants ? part.slice(0, -2) : part;
    if (!hierarchy.entries.has(code)) fail(`unknown code ${code} in ${role}`);
    if (!descendants && !hierarchy.leaves.includes(code)) fail(`${code} in ${role} is not a leaf code; write ${code}.* for it and its descendants`);
    for (const leaf of hierarchy.leaves) if (leaf === code || isDescendant(leaf, code, hierarchy)) matched.add(leaf);
  }
  return matched;
}

function isDescendant(code: string, ancestor: string, hierarchy: Hierarchy): boolean {
  for (let parent = hierarchy.entries.get(code)?.parent; parent; parent = hierarchy.entries.get(parent)?.parent) {
    if (parent === ancestor) return true;
  }
  return false;
}

/**
 * First matching rule for each pair in `pairs`; a pair left uncovered or a rule that never wins is an error.
 */
function applyRules<T>(context: RuleContext, section: readonly string[], rules: readonly Rule<T>[], pairs: ReadonlyArray<[string, string]>): Map<string, Rule<T>> {
  const chosen = new Map<string, Rule<T>>();
  const used = new Set<Rule<T>>();
  for (const [codeCs, codeUs] of pairs) {
    const rule = rules.find((candidate) => candidate.cs.has(codeCs) && candidate.us.has(codeUs));
    if (!rule) tableError(context.yaml.file, yamlLine(context.yaml, section), `pair not covered: no rule of ${section.join('.')} matches ${codeCs} × ${codeUs}`);
    chosen.set(pairKey(codeCs, codeUs), rule);
    used.add(rule);
  }
  for (const rule of rules) {
    if (!used.has(rule)) {
      tableError(context.yaml.file, rule.line, `${section.join('.')} rule ${rule.index} never applies: every pair it names is taken by an earlier rule or needs no rule here`);
    }
  }
  return chosen;
}

function readCategoryNumber(value: unknown, categories: readonly Category[], fail: (message: string) => never): Category {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > categories.length) {
    return fail(`category ${JSON.stringify(value)} out of range 1..${categories.length}`);
  }
  return categories[value - 1]!;
}

// ---------------------------------------------------------------------------------------------

function buildNomenclature(dir: string): Nomenclature {
  if (!existsSync(dir)) throw new UserError('nomenclature directory not found', { file: dir });
  const file = (name: string): string => path.join(dir, name);
  const csvTables = {
    couverture: readCsvTable(file(TABLE_FILES.couverture)),
    usage: readCsvTable(file(TABLE_FILES.usage)),
    categories: readCsvTable(file(TABLE_FILES.categories)),
    matrix: readCsvTable(file(TABLE_FILES.matrix)),
  };
  const cs = readHierarchy(csvTables.couverture, 'CS', true);
  const us = readHierarchy(csvTables.usage, 'US', false);
  const categories = readCategories(csvTables.categories);
  const matrix = readMatrix(csvTables.matrix, cs, us);

  const yaml = readYamlFile(file(TABLE_FILES.rules));
  const root = yaml.doc.toJSON() as unknown;
  if (!isRecord(root)) tableError(yaml.file, 1, 'must be a mapping with version, categories, enaf and official');
  for (const key of Object.keys(root)) {
    if (!['version', 'categories', 'enaf', 'official'].includes(key)) tableError(yaml.file, yamlLine(yaml, [key]), `unknown section "${key}"`);
  }
  const version = root['version'];
  if (typeof version !== 'string' || version === '') tableError(yaml.file, 1, '"version" must be a non-empty string');
  const context: RuleContext = { yaml, cs, us };
  const allPairs = cs.leaves.flatMap((codeCs) => us.leaves.map((codeUs): [string, string] => [codeCs, codeUs]));

  const categoryRules = applyRules(
    context,
    ['categories'],
    readRules(context, ['categories'], ['category', 'sealed'], (rule, fail) => {
      const category = readCategoryNumber(rule['category'], categories, fail);
      if (typeof rule['sealed'] !== 'boolean') fail('"sealed" must be true or false');
      if (category.sealed !== 'couverture' && rule['sealed'] !== category.sealed) fail(`sealed: ${String(rule['sealed'])} disagrees with category ${category.num} in ${TABLE_FILES.categories}`);
      return { ...category, sealed: rule['sealed'] as boolean };
    }),
    allPairs,
  );
  for (const [key, rule] of categoryRules) {
    const artificialised = matrix.get(key)!;
    if (rule.payload.artificialised !== artificialised) {
      tableError(
        yaml.file,
        rule.line,
        `categories rule ${rule.index} gives ${key.replace('|', ' × ')} category ${rule.payload.num} (${rule.payload.artificialised ? '' : 'not '}artificialised) but ${TABLE_FILES.matrix} says ${artificialised ? '' : 'not '}artificialised`,
      );
    }
  }

  const enafRules = applyRules(
    context,
    ['enaf'],
    readRules(context, ['enaf'], ['enaf', 'destination'], (rule, fail) => {
      if (rule['enaf'] === 'naf') {
        if (rule['destination'] !== null) fail('a naf rule must have destination: null');
        return { enaf: 'naf' as const, destination: null };
      }
      if (rule['enaf'] !== 'urban') return fail(`enaf must be naf or urban, found ${JSON.stringify(rule['enaf'])}`);
      if (!DESTINATIONS.includes(rule['destination'] as Destination)) fail(`destination must be one of ${DESTINATIONS.join(', ')} for an urban rule`);
      return { enaf: 'urban' as const, destination: rule['destination'] as Destination };
    }),
    allPairs,
  );

  // Official overrides: one section per direction, covering exactly the pairs the matrix puts on the other side.
  const overrideRules = new Map<boolean, Map<string, Rule<Category>>>();
  for (const officialArtif of [true, false]) {
    const section = ['official', officialArtif ? 'artificialised' : 'not_artificialised'];
    const pairs = allPairs.filter(([codeCs, codeUs]) => matrix.get(pairKey(codeCs, codeUs)) !== officialArtif);
    const rules = readRules(context, section, ['category'], (rule, fail) => {
      const category = readCategoryNumber(rule['category'], categories, fail);
      if (category.artificialised !== officialArtif) fail(`category ${category.num} is ${category.artificialised ? '' : 'not '}artificialised, this section needs the other side`);
      return category;
    });
    overrideRules.set(officialArtif, applyRules(context, section, rules, pairs));
  }

  // Precompute frozen classes per pair: matrix, official=false, official=true.
  const classes = new Map<string, PairClasses>();
  for (const [codeCs, codeUs] of allPairs) {
    const key = pairKey(codeCs, codeUs);
    const category = categoryRules.get(key)!.payload;
    const enaf = enafRules.get(key)!.payload;
    const base = { codeCs, codeUs, sealed: category.sealed, enaf: enaf.enaf, destination: enaf.destination };
    const make = (num: number, artificialised: boolean, artifRule: 'matrix' | 'official'): LandClasses =>
      Object.freeze({ ...base, category: num, artificialised, artifRule });
    const official = (flag: boolean): LandClasses =>
      flag === matrix.get(key) ? make(category.num, flag, 'official') : make(overrideRules.get(flag)!.get(key)!.payload.num, flag, 'official');
    classes.set(key, { matrix: make(category.num, matrix.get(key)!, 'matrix'), official: [official(false), official(true)] });
  }

  const bySpelling = new Map<string, PairClasses | null>();
  const normalise = (spellings: Map<string, string>) => (raw: string) => spellings.get(raw.trim().toUpperCase()) ?? null;
  const normaliseCs = normalise(cs.spellings);
  const normaliseUs = normalise(us.spellings);
  const tableVersions: Record<string, string> = {};
  for (const table of Object.values(csvTables)) tableVersions[path.basename(table.file)] = table.version;
  tableVersions[TABLE_FILES.rules] = version;

  return {
    version,
    couverture: cs.entries,
    usage: us.entries,
    categories,
    leafCs: cs.leaves,
    leafUs: us.leaves,
    tableVersions,
    dir,
    normaliseCs,
    normaliseUs,
    classify(codeCs, codeUs, officialArtif) {
      // Sources repeat a few spellings millions of times: remember raw spellings (bounded against garbage codes).
      const rawKey = `${codeCs}\u0000${codeUs}`;
      let entry = bySpelling.get(rawKey);
      if (entry === undefined) {
        const normalisedCs = normaliseCs(codeCs);
        const normalisedUs = normaliseUs(codeUs);
        entry = (normalisedCs && normalisedUs && classes.get(pairKey(normalisedCs, normalisedUs))) || null;
        if (bySpelling.size < 10_000) bySpelling.set(rawKey, entry);
      }
      if (!entry) return null;
      return officialArtif === true || officialArtif === false ? entry.official[officialArtif ? 1 : 0] : entry.matrix;
    },
    unclassified(codeCs, codeUs) {
      return {
        codeCs: normaliseCs(codeCs) ?? codeCs.trim(),
        codeUs: normaliseUs(codeUs) ?? codeUs.trim(),
        category: 0,
        artificialised: false,
        artifRule: 'unclassified',
        sealed: false,
        enaf: 'unclassified',
        destination: null,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Profiles

const profilesDir = (nomenclatureDir: string): string => path.join(nomenclatureDir, 'profiles');

/** Names of the profiles shipped in `<dir>/profiles` (default: the project's), sorted. */
export function listProfiles(dir: string = DEFAULT_NOMENCLATURE_DIR): string[] {
  const folder = profilesDir(dir);
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((name) => name.endsWith('.yml') && !name.endsWith('.spec.yml'))
    .map((name) => name.slice(0, -'.yml'.length))
    .sort();
}

/**
 * Loads a profile by name ('ocsge', 'example-regional') or path to a .yml, validating its codes
 * against the nomenclature of `nomenclatureDir` (default: the project's); cached.
 */
export function loadProfile(nameOrPath: string, nomenclatureDir: string = DEFAULT_NOMENCLATURE_DIR): Profile {
  const isPath = nameOrPath.includes('/') || nameOrPath.includes(path.sep) || /\.ya?ml$/.test(nameOrPath);
  const file = path.resolve(isPath ? nameOrPath : path.join(profilesDir(nomenclatureDir), `${nameOrPath}.yml`));
  if (!existsSync(file)) {
    throw new UserError(`unknown profile "${nameOrPath}"`, {
      file: isPath ? file : undefined,
      remedy: `use one of ${listProfiles(nomenclatureDir).join(', ')} or a path to a profile .yml`,
    });
  }
  const key = `${file}|${path.resolve(nomenclatureDir)}`;
  let profile = profileCache.get(key);
  if (!profile) {
    profile = buildProfile(file, loadNomenclature(nomenclatureDir));
    profileCache.set(key, profile);
  }
  return profile;
}

function buildProfile(file: string, nomenclature: Nomenclature): Profile {
  const yaml = readYamlFile(file);
  const root = yaml.doc.toJSON() as unknown;
  const at = (keyPath: readonly string[]): number | undefined => yamlLine(yaml, keyPath);
  if (!isRecord(root)) tableError(file, 1, 'a profile must be a mapping with name, version, roles and identity or codes');
  for (const key of Object.keys(root)) {
    if (!['name', 'version', 'roles', 'identity', 'codes'].includes(key)) tableError(file, at([key]), `unknown key "${key}"`);
  }
  for (const key of ['name', 'version']) {
    if (typeof root[key] !== 'string' || root[key] === '') tableError(file, at([key]) ?? 1, `"${key}" must be a non-empty string`);
  }
  const roles: Record<string, readonly string[]> = {};
  for (const { key, line, value } of yamlMapEntries(yaml, ['roles'])) {
    if (!Array.isArray(value) || value.length === 0 || !value.every((name) => typeof name === 'string' && name !== '')) {
      tableError(file, line, `role ${key} must list candidate field names`);
    }
    roles[key] = Object.freeze(value as string[]);
  }
  const usedRoles = new Set<string>();
  const role = (value: unknown, line: number | undefined, what: string): string => {
    if (typeof value !== 'string' || !(value in roles)) tableError(file, line, `${what} must name a role (${Object.keys(roles).join(', ')})`);
    usedRoles.add(value);
    return value;
  };
  const leafPair = (codeCs: string | null, codeUs: string | null): { codeCs: string; codeUs: string } | null =>
    codeCs && codeUs && nomenclature.leafCs.includes(codeCs) && nomenclature.leafUs.includes(codeUs) ? { codeCs, codeUs } : null;

  let toCsUs: Profile['toCsUs'];
  if (('identity' in root) === ('codes' in root)) tableError(file, 1, 'a profile needs exactly one of "identity" (CS/US fields) or "codes" (a code table)');
  if ('identity' in root) {
    const identity = root['identity'];
    if (!isRecord(identity) || Object.keys(identity).sort().join(',') !== 'cs,us') tableError(file, at(['identity']), '"identity" must map cs and us to roles');
    const csRole = role(identity['cs'], at(['identity', 'cs']), 'identity.cs');
    const usRole = role(identity['us'], at(['identity', 'us']), 'identity.us');
    toCsUs = (values) => leafPair(nomenclature.normaliseCs(values[csRole] ?? ''), nomenclature.normaliseUs(values[usRole] ?? ''));
  } else {
    const codes = root['codes'];
    if (!isRecord(codes) || Object.keys(codes).sort().join(',') !== 'map,role') tableError(file, at(['codes']), '"codes" must have a role and a map');
    const codeRole = role(codes['role'], at(['codes', 'role']), 'codes.role');
    const table = new Map<string, { codeCs: string; codeUs: string }>();
    for (const { key, line, value } of yamlMapEntries(yaml, ['codes', 'map'])) {
      if (!isRecord(value) || typeof value['cs'] !== 'string' || typeof value['us'] !== 'string') tableError(file, line, `code ${key} must map to {cs, us, label}`);
      for (const field of Object.keys(value)) if (!['cs', 'us', 'label'].includes(field)) tableError(file, line, `code ${key}: unknown key "${field}"`);
      const pair = leafPair(nomenclature.normaliseCs(value['cs']), nomenclature.normaliseUs(value['us']));
      if (!pair) tableError(file, line, `code ${key} maps to ${value['cs']} × ${value['us']}, which is not a leaf CS × US pair of the nomenclature`);
      table.set(key.trim(), pair);
    }
    toCsUs = (values) => table.get((values[codeRole] ?? '').trim()) ?? null;
  }
  for (const name of Object.keys(roles)) if (!usedRoles.has(name)) tableError(file, at(['roles', name]), `role ${name} is not used by the mapping`);
  return { name: root['name'] as string, version: root['version'] as string, roles, toCsUs, file };
}

/**
 * Which source field plays each role of the profile: the first candidate found among `fieldNames`,
 * case-insensitively. A role with no field is a UserError naming the candidates and the fields seen.
 */
export function matchRoleFields(profile: Profile, fieldNames: readonly string[], where: { file?: string; layer?: string } = {}): Record<string, string> {
  const byLower = new Map(fieldNames.map((name) => [name.toLowerCase(), name]));
  const matched: Record<string, string> = {};
  for (const [roleName, candidates] of Object.entries(profile.roles)) {
    const found = candidates.map((candidate) => byLower.get(candidate.toLowerCase())).find((name) => name !== undefined);
    if (!found) {
      throw new UserError(`no field for ${roleName} (profile ${profile.name} looks for ${candidates.join(', ')}; fields are ${fieldNames.join(', ')})`, {
        ...where,
        remedy: 'rename the field or choose another --profile',
      });
    }
    matched[roleName] = found;
  }
  return matched;
}
