import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { DEFAULT_NOMENCLATURE_DIR, listProfiles, loadNomenclature, loadProfile, matchRoleFields } from '../nomenclature/loader.js';
import { checkNomenclature, replaySpec, specFiles } from '../nomenclature/spec.js';
import { UserError } from '../pipeline/core/errors.js';
import { PROJECT_ROOT } from '../pipeline/core/paths.js';

const REFERENCE = path.join(PROJECT_ROOT, '..', 'shared', 'reference');
const nomenclature = loadNomenclature();

/** Rows of a reference CSV (commas inside quotes kept). */
function referenceRows(name: string): string[][] {
  return readFileSync(path.join(REFERENCE, name), 'utf8')
    .trim()
    .split(/\r?\n/)
    .map((line) => line.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/).map((cell) => cell.replace(/^"|"$/g, '')));
}

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) }, out, err };
}

const pairs = nomenclature.leafCs.flatMap((cs) => nomenclature.leafUs.map((us) => [cs, us] as const));

describe('nomenclature tables', () => {
  it('classifies exactly the 14 × 20 leaf pairs of the reference matrix, with the same flag', () => {
    const [header, ...rows] = referenceRows('ocsge-artif-matrix.csv');
    const usColumns = header!.slice(1);
    expect(nomenclature.leafCs).toEqual(rows.map((row) => row[0]));
    expect([...nomenclature.leafUs].sort()).toEqual([...usColumns].sort());
    let checked = 0;
    for (const row of rows) {
      usColumns.forEach((us, i) => {
        const classes = nomenclature.classify(row[0]!, us)!;
        expect(classes.artificialised, `${row[0]} × ${us}`).toBe(row[i + 1] === 'A');
        expect(classes.artifRule).toBe('matrix');
        checked++;
      });
    }
    expect(checked).toBe(280);
  });

  it('agrees with the reference hierarchies and décret categories', () => {
    for (const [code, level, parent] of referenceRows('ocsge-couverture.csv').slice(1)) {
      expect(nomenclature.couverture.get(code!), code).toMatchObject({ level: Number(level), parent: parent || null });
    }
    for (const [code, parent] of referenceRows('ocsge-usage.csv').slice(1)) {
      expect(nomenclature.usage.get(code!)?.parent ?? null, code).toBe(parent || null);
    }
    const categories = referenceRows('lcr-2023-categories.csv').slice(1);
    expect(nomenclature.categories.map((c) => [c.num, c.artificialised])).toEqual(categories.map(([num, status]) => [Number(num), status === 'artificialisee']));
  });

  it('keeps category, matrix, sealed and ENAF consistent for all 280 pairs and both official flags', () => {
    const urbanUses = ['US2', 'US3', 'US5', 'US235', 'US4.1.1', 'US4.1.2', 'US4.1.3', 'US4.1.4', 'US4.1.5', 'US4.2', 'US4.3', 'US6.1', 'US6.2'];
    for (const [cs, us] of pairs) {
      const c = nomenclature.classify(cs, us)!;
      const where = `${cs} × ${us}`;
      expect(c.category >= 1 && c.category <= 5, where).toBe(c.artificialised);
      expect(nomenclature.categories[c.category - 1]!.artificialised, where).toBe(c.artificialised);
      expect(c.sealed, where).toBe(cs === 'CS1.1.1.1' || cs === 'CS1.1.1.2');
      // Category 5: every artificialised couverture in works or abandoned (décret: categories 1–4 in that state).
      const works = us === 'US6.1' || us === 'US6.2';
      if (c.artificialised && works) expect(c.category, where).toBe(5);
      if (cs === 'CS1.1.1.1' && !works) expect(c.category, where).toBe(1);
      if (cs === 'CS1.1.1.2' && !works) expect(c.category, where).toBe(2);
      if (cs.startsWith('CS1.1.2.') && c.artificialised && !works) expect(c.category, where).toBe(3);
      const crop = (cs === 'CS1.2.1' && us === 'US1.1') || (cs === 'CS1.2.2' && us === 'US1.4');
      if (cs.startsWith('CS1.2.')) expect(c.category, where).toBe(crop ? 7 : 6);
      if (cs.startsWith('CS2.2.') && c.artificialised && !works) expect(c.category, where).toBe(4);
      if (cs.startsWith('CS2.2.') && (us === 'US1.1' || us === 'US1.4')) expect(c.category, where).toBe(7);
      if (cs.startsWith('CS2.1.1.') && us === 'US1.2') expect(c.category, where).toBe(8);
      if (cs.startsWith('CS2.1.') && ['US2', 'US3', 'US5', 'US235'].concat(urbanUses.filter((u) => u.startsWith('US4'))).includes(us)) expect(c.category, where).toBe(10);
      if (['US6.3', 'US6.6', 'US1.5'].includes(us) && cs.startsWith('CS2.')) expect([9, 10], where).toContain(c.category);
      const urban = urbanUses.includes(us) || (us === 'US6.6' && cs.startsWith('CS1.1.'));
      expect(c.enaf, where).toBe(urban ? 'urban' : 'naf');
      expect(c.destination === null, where).toBe(!urban);
      for (const official of [true, false]) {
        const o = nomenclature.classify(cs, us, official)!;
        expect(o.artificialised, where).toBe(official);
        expect(o.artifRule).toBe('official');
        expect(nomenclature.categories[o.category - 1]!.artificialised, where).toBe(official);
        if (official === c.artificialised) expect(o.category, where).toBe(c.category);
        expect([o.sealed, o.enaf, o.destination], where).toEqual([c.sealed, c.enaf, c.destination]);
      }
    }
    expect(nomenclature.classify('CS2.2.1', 'US5', null)!.artifRule).toBe('matrix');
  });

  it('returns null for unknown or non-leaf codes, and an explicit unclassified class on request', () => {
    expect(nomenclature.classify('CS9.9', 'US5')).toBeNull();
    expect(nomenclature.classify('CS1.1.1.1', 'US9')).toBeNull();
    expect(nomenclature.classify('CS2.2', 'US5')).toBeNull();
    expect(nomenclature.classify('', '')).toBeNull();
    expect(nomenclature.unclassified(' cs2.2.1', 'XX')).toEqual({
      codeCs: 'CS2.2.1', codeUs: 'XX', category: 0, artificialised: false, artifRule: 'unclassified', sealed: false, enaf: 'unclassified', destination: null,
    });
  });

  it('normalises delivered spellings and caches per directory', () => {
    expect(['CS1.1.1.1', 'cs1.1.1.1', ' 1.1.1.1 ', 'CS1111', '1111'].map(nomenclature.normaliseCs)).toEqual(Array(5).fill('CS1.1.1.1'));
    expect(['US235', 'us235', '235', 'US4.1.1', '411', 'us6.6'].map(nomenclature.normaliseUs)).toEqual(['US235', 'US235', 'US235', 'US4.1.1', 'US4.1.1', 'US6.6']);
    expect(nomenclature.normaliseCs('CS1.11.1')).toBeNull();
    expect(loadNomenclature(DEFAULT_NOMENCLATURE_DIR)).toBe(nomenclature);
    expect(nomenclature.version).toBe('ocsge-lcr-2023.2');
    expect(Object.keys(nomenclature.tableVersions)).toHaveLength(5);
  });
});

describe('spec files', () => {
  const files = specFiles();
  it('covers every table and profile', () => {
    expect(files.map((file) => path.relative(DEFAULT_NOMENCLATURE_DIR, file))).toEqual([
      'lcr-2023-categories.spec.yml', 'ocsge-artif-matrix.spec.yml', 'ocsge-couverture.spec.yml', 'ocsge-to-lcr.spec.yml', 'ocsge-usage.spec.yml', 'zan-rules.spec.yml',
      'profiles/example-regional.spec.yml', 'profiles/ocsge.spec.yml',
    ]);
  });
  it.each(files.map((file) => [path.basename(file), file]))('replays %s', (_name, file) => {
    expect(replaySpec(file, nomenclature).cases).toBeGreaterThan(4);
  });
});

describe('profiles', () => {
  it('lists and loads the shipped profiles', () => {
    expect(listProfiles()).toEqual(['example-regional', 'ocsge']);
    const ocsge = loadProfile('ocsge');
    expect(ocsge.roles).toEqual({ cs: ['code_cs', 'couverture', 'cs'], us: ['code_us', 'usage', 'us'] });
    expect(loadProfile(path.join(DEFAULT_NOMENCLATURE_DIR, 'profiles', 'ocsge.yml'))).toBe(ocsge);
    expect(ocsge.toCsUs({ cs: 'CS2.2.1', us: 'US6.1' })).toEqual({ codeCs: 'CS2.2.1', codeUs: 'US6.1' });
    expect(ocsge.toCsUs({ cs: 'CS2.2', us: 'US6.1' })).toBeNull();
    const regional = loadProfile('example-regional');
    expect(regional.roles).toEqual({ code: ['code_ocs', 'code4', 'code_n4'] });
    expect(regional.toCsUs({ code: '3111' })).toEqual({ codeCs: 'CS2.1.1.1', codeUs: 'US1.2' });
    expect(regional.toCsUs({ code: '0000' })).toBeNull();
  });

  it('matches role fields case-insensitively, in candidate order', () => {
    const ocsge = loadProfile('ocsge');
    expect(matchRoleFields(ocsge, ['ID', 'CODE_CS', 'Usage', 'us'])).toEqual({ cs: 'CODE_CS', us: 'Usage' });
    expect(() => matchRoleFields(ocsge, ['ID', 'CODE_CS'], { file: 'a.gpkg', layer: 'ocs' })).toThrow(/no field for us \(profile ocsge looks for code_us, usage, us; fields are ID, CODE_CS\)/);
    expect(matchRoleFields(loadProfile('example-regional'), ['Code4'])).toEqual({ code: 'Code4' });
  });

  it('refuses an unknown profile with the list of known ones', () => {
    expect(() => loadProfile('nope')).toThrow(UserError);
    expect(() => loadProfile('nope')).toThrow(/unknown profile "nope"/);
  });
});

describe('broken tables fail at load naming the row', () => {
  const temps: string[] = [];
  afterAll(() => temps.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  /** A copy of the tables with `file` edited. */
  function broken(file: string, edit: (text: string) => string): { dir: string; file: string } {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ocs-zan-nomenclature-'));
    temps.push(dir);
    cpSync(DEFAULT_NOMENCLATURE_DIR, dir, { recursive: true, filter: (source) => !source.endsWith('.ts') });
    const target = path.join(dir, file);
    const text = edit(readFileSync(target, 'utf8'));
    writeFileSync(target, text);
    return { dir, file: target };
  }

  /** 1-based line where `text` first occurs in `file`. */
  function lineOf(file: string, text: string): number {
    const content = readFileSync(file, 'utf8');
    expect(content).toContain(text);
    return content.slice(0, content.indexOf(text)).split('\n').length;
  }

  function loadError(dir: string): UserError {
    try {
      checkNomenclature(dir);
    } catch (error) {
      expect(error).toBeInstanceOf(UserError);
      return error as UserError;
    }
    throw new Error('expected the tables to be refused');
  }

  interface BrokenCase {
    name: string;
    file: string;
    edit: (text: string) => string;
    /** Text at the start of the row the error must name (a CSV row, a YAML key, or the first line of a YAML rule). */
    at?: string;
    /** The file the error names, when not the edited one. */
    errorFile?: string;
    message: RegExp;
  }
  const cases: BrokenCase[] = [
    { name: 'unknown code in a rule', file: 'ocsge-to-lcr.yml', edit: (t) => t.replace('cs: CS1.2.*', 'cs: CS1.9.*'), at: 'cs: CS1.9.*', message: /categories rule 9: unknown code CS1\.9 in cs/ },
    { name: 'non-leaf code without .*', file: 'ocsge-to-lcr.yml', edit: (t) => t.replace('cs: CS1.2.*', 'cs: CS1.2'), at: 'cs: CS1.2\n', message: /CS1\.2 in cs is not a leaf code/ },
    { name: 'duplicate code', file: 'ocsge-couverture.csv', edit: (t) => `${t}CS1.2.1,3,CS1.2,Encore\n`, at: 'CS1.2.1,3,CS1.2,Encore', message: /duplicate code CS1\.2\.1 \(first on line 14\)/ },
    { name: 'duplicate YAML key', file: 'ocsge-to-lcr.yml', edit: (t) => t.replace('    category: 6\n', '    category: 6\n    category: 7\n'), at: 'category: 7', message: /YAML error: Map keys must be unique/ },
    { name: 'pair not covered', file: 'ocsge-to-lcr.yml', edit: (t) => t.replace(/  - cs: CS2\.\*\n    us: \[US1\.3, US1\.5, US6\.6\][\s\S]*?\n\n/, '\n'), at: 'cs: CS1.1.1.*', message: /pair not covered: no rule of categories matches CS2\.1\.1\.1 × US1\.3/ },
    { name: 'category out of range', file: 'ocsge-to-lcr.yml', edit: (t) => t.replace('category: 9\n', 'category: 11\n'), at: 'cs: CS2.*\n    us: US6.3', message: /categories rule 15: category 11 out of range 1\.\.10/ },
    {
      name: 'matrix/category disagreement', file: 'ocsge-artif-matrix.csv', edit: (t) => t.replace(/^CS2\.2\.1,(.*),N,N$/m, 'CS2.2.1,$1,A,N'),
      errorFile: 'ocsge-to-lcr.yml', at: 'cs: CS2.*\n    us: US6.3',
      message: /categories rule 15 gives CS2\.2\.1 × US6\.3 category 9 \(not artificialised\) but ocsge-artif-matrix\.csv says artificialised/,
    },
    { name: 'shadowed rule', file: 'ocsge-to-lcr.yml', edit: (t) => t.replace('categories:\n', 'categories:\n  - {cs: "*", us: "*", category: 10, sealed: false, why: everything}\n'), at: 'cs: CS1.1.1.*', message: /categories rule 2 never applies/ },
    { name: 'sealed flag disagreeing with the category', file: 'ocsge-to-lcr.yml', edit: (t) => t.replace('category: 3\n    sealed: false', 'category: 3\n    sealed: true'), at: "cs: CS1.1.2.*\n    us: '*'", message: /sealed: true disagrees with category 3/ },
    { name: 'missing matrix row', file: 'ocsge-artif-matrix.csv', edit: (t) => t.replace(/^CS2\.2\.2,.*\n/m, ''), message: /pairs not covered: no row for CS2\.2\.2/ },
    { name: 'bad matrix value', file: 'ocsge-artif-matrix.csv', edit: (t) => t.replace(/^(CS1\.2\.3,)N/m, '$1X'), at: 'CS1.2.3,X', message: /CS1\.2\.3 × US1\.1 must be A or N, found "X"/ },
    { name: 'category numbering gap', file: 'lcr-2023-categories.csv', edit: (t) => t.replace(/^7,/m, '8,'), at: '8,no,no,"Cultures', message: /category "8" out of order: expected 7/ },
    { name: 'missing version', file: 'ocsge-usage.csv', edit: (t) => t.replace(/^# version.*\n/, ''), at: '# IGN', message: /first line must be "# version: <version>"/ },
    { name: 'wrong level', file: 'ocsge-couverture.csv', edit: (t) => t.replace('CS1.2.2,3,', 'CS1.2.2,2,'), at: 'CS1.2.2,2,', message: /level of CS1\.2\.2 is 2 but its parent chain makes it 3/ },
    { name: 'unknown ENAF destination', file: 'ocsge-to-lcr.yml', edit: (t) => t.replace('destination: ferre', 'destination: rail'), at: "cs: '*'\n    us: US4.1.2", message: /enaf rule 9: destination must be one of/ },
    {
      name: 'override on the wrong side', file: 'ocsge-to-lcr.yml', edit: (t) => t.replace('category: 5\n      why: In transition', 'category: 7\n      why: In transition'),
      at: "cs: '*'\n      us: [US6.1, US6.2]", message: /official\.artificialised rule 1: category 7 is not artificialised/,
    },
    {
      name: 'profile code to an unknown pair', file: 'profiles/example-regional.yml', edit: (t) => t.replace("'3121': {cs: CS2.1.2,", "'3121': {cs: CS2.1.9,"),
      at: "'3121'", message: /code 3121 maps to CS2\.1\.9 × US6\.3, which is not a leaf CS × US pair/,
    },
    { name: 'profile role never used', file: 'profiles/ocsge.yml', edit: (t) => t.replace('us: [code_us, usage, us]', 'us: [code_us, usage, us]\n  id: [id]'), at: '[id]', message: /role id is not used by the mapping/ },
    {
      name: 'spec example that no longer holds', file: 'ocsge-to-lcr.spec.yml', edit: (t) => t.replace('expect: {category: 9, enaf: naf}', 'expect: {category: 10, enaf: naf}'),
      at: 'input: {cs: CS2.1.2, us: US6.3}', message: /case \d+: \{"cs":"CS2\.1\.2","us":"US6\.3"\}: category is 9, expected 10/,
    },
  ];

  it.each(cases.map((c) => [c.name, c]))('%s', (_name, c) => {
    const copy = broken(c.file, c.edit);
    const errorFile = path.join(copy.dir, c.errorFile ?? c.file);
    const error = loadError(copy.dir);
    expect(error.message).toMatch(c.message);
    expect(error.context.file).toBe(c.at ? `${errorFile}:${lineOf(errorFile, c.at)}` : errorFile);
    expect(error.line().split('\n')).toHaveLength(1);
  });

  it('exits 2 from `nomenclature check` with the file and row', async () => {
    const copy = broken('ocsge-to-lcr.yml', (t) => t.replace('category: 9\n', 'category: 0\n'));
    const { io, err } = capture();
    expect(await runCli(['nomenclature', 'check', '--dir', copy.dir], io)).toBe(2);
    const line = lineOf(copy.file, 'cs: CS2.*\n    us: US6.3');
    expect(err.join('')).toBe(`ocs-zan: error: nomenclature: ${copy.file}:${line}: categories rule 15: category 0 out of range 1..10\n`);
  });
});

describe('ocs-zan nomenclature', () => {
  it('checks the shipped tables', async () => {
    const { io, out } = capture();
    expect(await runCli(['nomenclature', 'check'], io)).toBe(0);
    const text = out.join('');
    expect(text).toMatch(/^nomenclature ocsge-lcr-2023\.2 /);
    expect(text).toMatch(/pairs: 14 CS × 20 US = 280 classified/);
    expect(text).toMatch(/profiles: example-regional \(example-regional\.1\), ocsge \(ocsge-profile\.1\)/);
    expect(text).toMatch(/\nok\n$/);
  });

  it('shows the classes of a pair', async () => {
    const { io, out } = capture();
    expect(await runCli(['nomenclature', 'show', 'cs2.2.1', 'US6.1'], io)).toBe(0);
    expect(out.join('')).toBe(
      [
        'CS2.2.1 × US6.1 (ocsge-lcr-2023.2)',
        'couverture: Formations herbacées (pelouses, prairies, terres arables, roselières…)',
        'usage: Zones en transition',
        "category: 5 Surfaces des catégories 1 à 4 en chantier ou à l'abandon",
        'artificialised: yes (matrix)',
        'sealed: no',
        'enaf: urban',
        'destination: inconnu',
        '',
      ].join('\n'),
    );
    const official = capture();
    expect(await runCli(['nomenclature', 'show', 'CS1.1.1.1', 'US1.1', '--official', 'no'], official.io)).toBe(0);
    expect(official.out.join('')).toMatch(/category: 7 .*\nartificialised: no \(official\)\nsealed: yes\nenaf: naf\n/);
  });

  it('exits 2 on an unknown pair', async () => {
    const { io, err } = capture();
    expect(await runCli(['nomenclature', 'show', 'CS1.1', 'US5'], io)).toBe(2);
    expect(err.join('')).toMatch(/^ocs-zan: error: unknown CS × US pair CS1\.1 × US5 \(use leaf codes/);
  });
});
