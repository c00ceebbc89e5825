import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/registry.js';
import { figureKind, formatFigure, formatHa, formatHaPerYear, formatShare } from '../pipeline/portraits/format.js';
import { createPortraitDb } from '../fixtures/generator/portrait-db.js';
import { buildFixtureDb } from './indicators-fixture.js';

// PORTRAIT_TEST_DB=OUT/ocs.duckdb re-points these tests at a real `ocs-zan run` output (copied: portraits write into it).
const tmp = mkdtempSync(path.join(os.tmpdir(), 'portraits-test-'));
const dbPath = path.join(tmp, 'ocs.duckdb');
const out = path.join(tmp, 'portraits');

function capture() {
  const err: string[] = [];
  return { io: { stdout: () => undefined, stderr: (t: string) => void err.push(t) }, err };
}

const unescape = (s: string): string => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
const htmlFiles = (): string[] => readdirSync(out).filter((f) => f.endsWith('.html')).sort();
const read = (file: string): string => readFileSync(path.join(out, file), 'utf8');

let instance: DuckDBInstance;
let connection: DuckDBConnection;

beforeAll(async () => {
  if (process.env.PORTRAIT_TEST_DB) copyFileSync(process.env.PORTRAIT_TEST_DB, dbPath);
  else await createPortraitDb(dbPath, { communes: 12, epciSize: 5 });
  const { io, err } = capture();
  const code = await runCli(['portraits', '--db', dbPath, '--out', out, '--quiet'], io);
  expect(err.join('')).toBe('');
  expect(code).toBe(0);
  instance = await DuckDBInstance.create(dbPath, { access_mode: 'READ_ONLY' });
  connection = await instance.connect();
}, 60_000);

afterAll(() => {
  connection?.closeSync();
  instance?.closeSync();
  rmSync(tmp, { recursive: true, force: true });
});

async function query(sql: string, conn: DuckDBConnection = connection): Promise<Record<string, unknown>[]> {
  return (await conn.runAndReadAll(sql)).getRowObjectsJS();
}

/** The DB value a figure's data-key points at, on the portrait of (level, code); each table is read once per territory. */
async function dbValue(conn: DuckDBConnection, tableRows: Map<string, Promise<Record<string, unknown>[]>>, key: string, level: string, code: string): Promise<number | boolean | null> {
  const [table, column, ...filters] = key.split('|');
  expect(table).toMatch(/^[a-z_]+$/);
  const where = new Map<string, string>([['level', level], ['code', code]]);
  for (const f of filters) {
    const [k, v] = f.split('=');
    where.set(k!, v!);
  }
  const cacheKey = `${table}|${where.get('level')}|${where.get('code')}`;
  if (!tableRows.has(cacheKey)) tableRows.set(cacheKey, query(`SELECT * FROM ${table} WHERE level = '${where.get('level')}' AND code = '${where.get('code')}'`, conn));
  const rows = (await tableRows.get(cacheKey)!).filter((r) => [...where].every(([k, v]) => String(r[k]) === v));
  const plain = (v: unknown): number | boolean | null => (typeof v === 'bigint' ? Number(v) : (v as number | boolean | null));
  const sum = /^sum\((\w+)\)$/.exec(column!);
  if (sum) {
    // Summed in DuckDB like the renderer's query, so floating-point rounding matches bit for bit.
    const literal = (v: string): string => `'${v.replace(/'/g, "''")}'`;
    const conditions = [...where].map(([k, v]) => `${k}::VARCHAR = ${literal(v)}`).join(' AND ');
    return plain((await query(`SELECT sum(${sum[1]}) AS v FROM ${table} WHERE ${conditions}`, conn))[0]!.v);
  }
  // No row (e.g. a category absent from `stock`) is shown as a missing value.
  expect(rows.length, key).toBeLessThanOrEqual(1);
  return rows.length === 0 ? null : plain(rows[0]![column!]);
}

const firstEpci = async (): Promise<string> => String((await query(`SELECT min(code) AS code FROM territory WHERE level = 'epci'`))[0]!.code);

/** Checks every figure of every portrait in `dir` against the DB; returns how many were checked. */
async function checkFigures(dir: string, conn: DuckDBConnection): Promise<number> {
  const tableRows = new Map<string, Promise<Record<string, unknown>[]>>();
  let checked = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.html') && f !== 'index.html').sort()) {
    const html = readFileSync(path.join(dir, file), 'utf8');
    const [, level, code] = /<main data-level="([^"]+)" data-code="([^"]+)">/.exec(html)!;
    for (const m of html.matchAll(/data-key="([^"]*)" data-value="([^"]*)">([^<]*)</g)) {
      const key = unescape(m[1]!);
      const shown = unescape(m[3]!);
      const expected = await dbValue(conn, tableRows, key, level!, code!);
      const raw = m[2]!;
      if (expected === null) expect(raw, `${file} ${key}`).toBe('');
      else if (typeof expected === 'boolean') expect(raw).toBe(String(expected));
      else expect(Number(raw), `${file} ${key}`).toBe(expected);
      expect(shown, `${file} ${key}`).toBe(formatFigure(figureKind(key.split('|')[1]!), expected));
      checked++;
    }
  }
  return checked;
}

describe('portraits', () => {
  it('formats numbers the French way with narrow no-break spaces', () => {
    expect(formatHa(12_345_678)).toBe('1\u202F234,57\u202Fha');
    expect(formatHaPerYear(-5_000)).toBe('−0,50\u202Fha/an');
    expect(formatShare(0.012345)).toBe('1,23\u202F%');
    expect(formatFigure('ha', null)).toBe('—');
    expect(formatFigure('boolean', true)).toBe('oui');
  });

  it('writes one HTML and one Markdown portrait per territory, the index and the CSV', async () => {
    const territories = await query('SELECT level, code FROM territory ORDER BY level, code');
    for (const t of territories) {
      expect(existsSync(path.join(out, `${t.level}-${t.code}.html`))).toBe(true);
      expect(existsSync(path.join(out, 'md', `${t.level}-${t.code}.md`))).toBe(true);
    }
    expect(htmlFiles()).toHaveLength(territories.length + 1);
    const csv = read('portrait_territory.csv').trim().split('\n');
    expect(csv).toHaveLength(territories.length + 1);
    expect(csv[0]).toMatch(/^level,code,name,/);
  });

  it('documents every portrait_territory column with a COMMENT', async () => {
    const cols = await query(`SELECT column_name, comment FROM duckdb_columns() WHERE table_name IN ('portrait_territory', 'portrait_parent')`);
    expect(cols.length).toBeGreaterThan(40);
    for (const c of cols) expect(c.comment, String(c.column_name)).toBeTruthy();
    const tables = await query(`SELECT comment FROM duckdb_tables() WHERE table_name = 'portrait_territory'`);
    expect(tables[0]!.comment).toMatch(/One row per territory/);
  });

  it('shows exactly the DB value behind every figure, formatted', async () => {
    expect(await checkFigures(out, connection)).toBeGreaterThan(1000);
  }, 60_000);

  it('renders the indicator fixture DB built by the indicators stage (real schema, mixed vintages, a commune without data)', async () => {
    const built = await buildFixtureDb();
    try {
      const fixtureOut = path.join(built.dir, 'portraits');
      expect(await runCli(['portraits', '--db', built.dbPath, '--out', fixtureOut, '--quiet'], capture().io)).toBe(0);
      const fixture = await DuckDBInstance.create(built.dbPath, { access_mode: 'READ_ONLY' });
      const conn = await fixture.connect();
      try {
        expect(await checkFigures(fixtureOut, conn)).toBeGreaterThan(300);
      } finally {
        conn.closeSync();
        fixture.closeSync();
      }
      expect(readFileSync(path.join(fixtureOut, 'scot-S1.html'), 'utf8')).toContain('2018 (57); 2019 (54)');
    } finally {
      rmSync(built.dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('ranks siblings by annual net artificialisation share and shows the parent value', async () => {
    const rows = await query(
      `SELECT code, parent_level, parent_code, net_share_full, net_share_per_year_full, sibling_rank, sibling_count, parent_net_share_full FROM portrait_territory WHERE level = 'commune' ORDER BY parent_level, parent_code, net_share_per_year_full DESC NULLS LAST, code`,
    );
    const byParent = new Map<string, typeof rows>();
    for (const r of rows) {
      const parent = `${r.parent_level}\t${r.parent_code}`;
      byParent.set(parent, [...(byParent.get(parent) ?? []), r]);
    }
    for (const [parent, siblings] of byParent) {
      siblings.forEach((s) => {
        // Ties share the rank of the first of them.
        const first = siblings.findIndex((o) => o.net_share_per_year_full === s.net_share_per_year_full);
        expect(Number(s.sibling_rank)).toBe(first + 1);
        expect(Number(s.sibling_count)).toBe(siblings.length);
      });
      const [level, code] = parent.split('\t');
      const [p] = await query(`SELECT net_share_full FROM portrait_territory WHERE level = '${level}' AND code = '${code}'`);
      expect(siblings[0]!.parent_net_share_full).toBe(p!.net_share_full);
    }
  });

  it('renders well-formed, accessible SVG charts', () => {
    let charts = 0;
    for (const file of htmlFiles()) {
      if (file !== 'index.html') expect(read(file), file).toMatch(/<svg/);
      for (const [svg] of read(file).matchAll(/<svg[\s\S]*?<\/svg>/g)) {
        expect(XMLValidator.validate(svg), file).toBe(true);
        const labelled = /aria-labelledby="([^"]+)"/.exec(svg)![1]!.split(' ');
        for (const id of labelled) expect(svg).toContain(`id="${id}"`);
        expect(svg).toMatch(/role="img"/);
        expect(svg).toMatch(/<title id="[^"]+-title">[^<]+<\/title><desc id="[^"]+-desc">[^<]+<\/desc>/);
        charts++;
      }
    }
    // Six charts per portrait (stock, flux, couverture, usage, ENAF, trajectory) plus the map, all with data here.
    if (!process.env.PORTRAIT_TEST_DB) expect(charts).toBe((htmlFiles().length - 1) * 7);
  });

  it('links every portrait from the index and every link resolves; nothing is fetched from the network', () => {
    const index = read('index.html');
    const linked = new Set([...index.matchAll(/href="([^"]+)"/g)].map((m) => unescape(m[1]!)));
    for (const file of htmlFiles().filter((f) => f !== 'index.html')) expect(linked.has(file), file).toBe(true);
    for (const file of htmlFiles()) {
      const html = read(file);
      expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
      for (const m of html.matchAll(/href="([^"#]+)"/g)) expect(existsSync(path.join(out, unescape(m[1]!))), `${file} → ${m[1]}`).toBe(true);
    }
    for (const file of readdirSync(path.join(out, 'md'))) {
      for (const m of readFileSync(path.join(out, 'md', file), 'utf8').matchAll(/\]\(([^)]+)\)/g)) {
        expect(existsSync(path.join(out, 'md', m[1]!)), `${file} → ${m[1]}`).toBe(true);
      }
    }
  });

  it('escapes territory names', () => {
    for (const file of htmlFiles()) expect(read(file)).not.toMatch(/<[^a-zA-Z/!]/);
  });

  it('writes the same figures in Markdown', async () => {
    const epci = await firstEpci();
    const html = read(`epci-${epci}.html`);
    const md = readFileSync(path.join(out, 'md', `epci-${epci}.md`), 'utf8');
    const figures = [...html.matchAll(/data-key="artif_flux\|net_m2[^"]*" data-value="[^"]*">([^<]*)</g)].map((m) => m[1]!);
    expect(figures.length).toBeGreaterThan(0);
    for (const text of figures) expect(md).toContain(text);
  });

  it('refuses to overwrite without --force, and publishes a chosen level and code', async () => {
    const { io, err } = capture();
    expect(await runCli(['portraits', '--db', dbPath, '--out', out, '--quiet'], io)).toBe(2);
    expect(err.join('')).toMatch(/output already exists.*--force/);
    const one = path.join(tmp, 'one');
    const epci = await firstEpci();
    expect(await runCli(['portraits', '--db', dbPath, '--out', one, '--level', 'epci', '--code', epci, '--quiet'], io)).toBe(0);
    expect(readdirSync(one).sort()).toEqual(['.ocs-zan-output', `epci-${epci}.html`, 'index.html', 'md', 'portrait_territory.csv']);
    // Parents not published are named without a link.
    expect(readFileSync(path.join(one, `epci-${epci}.html`), 'utf8')).not.toMatch(/href="departement-/);
  });

  it('writes identical files on a second run (deterministic)', async () => {
    const again = path.join(tmp, 'again');
    expect(await runCli(['portraits', '--db', dbPath, '--out', again, '--quiet'], capture().io)).toBe(0);
    const list = (dir: string): string[] => readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
    expect(list(again)).toEqual(list(out));
    for (const file of list(out).filter((f) => f.includes('.'))) {
      expect(readFileSync(path.join(again, file), 'utf8'), file).toBe(readFileSync(path.join(out, file), 'utf8'));
    }
  });

  it('rejects an unknown code, level or database with a one-line user error', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--code', '99999'], /unknown territory code 99999/],
      [['--level', 'canton'], /expected one of region/],
    ];
    for (const [args, message] of cases) {
      const { io, err } = capture();
      expect(await runCli(['portraits', '--db', dbPath, '--out', path.join(tmp, 'x'), '--quiet', ...args], io)).toBe(2);
      expect(err.join('')).toMatch(message);
    }
    const { io, err } = capture();
    expect(await runCli(['portraits', '--db', path.join(tmp, 'none.duckdb'), '--out', path.join(tmp, 'y')], io)).toBe(2);
    expect(err.join('')).toMatch(/database not found/);
    expect(existsSync(path.join(tmp, 'x'))).toBe(false);
  });
});
