/**
 * Readers for the nomenclature's data files (versioned CSV tables, YAML documents) and for users' CSV tables, keeping the
 * line number of every row and node so that a wrong table fails with `file:line: what is wrong`.
 */
import { readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { UserError } from '../pipeline/core/errors.js';

/** Throws a UserError located at `file:line` (line omitted when the problem is the whole file). */
export function tableError(file: string, line: number | undefined, message: string, remedy?: string): never {
  throw new UserError(message, { file: line === undefined ? file : `${file}:${line}`, remedy });
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') tableError(file, undefined, `cannot read table file (${code})`);
    throw error;
  }
}

export interface CsvRow {
  line: number;
  /** Cells by header name. */
  cells: Readonly<Record<string, string>>;
}

export interface CsvRows {
  file: string;
  header: readonly string[];
  headerLine: number;
  rows: readonly CsvRow[];
}

export interface CsvTable extends CsvRows {
  version: string;
}

/**
 * A CSV table whose first line is `# version: <version>`; other `#` lines are comments, blank lines
 * are skipped. Fields may be double-quoted (with `""` escapes) but may not span lines.
 */
export function readCsvTable(file: string): CsvTable {
  const lines = readText(file).split(/\r?\n/);
  const versionMatch = /^#\s*version:\s*(\S+)\s*$/.exec(lines[0] ?? '');
  if (!versionMatch) tableError(file, 1, 'first line must be "# version: <version>"');
  return { ...csvRows(file, lines, ','), version: versionMatch[1]! };
}

/**
 * A CSV file written by a user: no version line required, `#` lines are comments, and the delimiter is
 * `;` when the header holds a `;` and no `,` (spreadsheets set to French locales write those).
 */
export function readUserCsv(file: string): CsvRows {
  const lines = readText(file).replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = lines.find((text) => text.trim() !== '' && !text.startsWith('#')) ?? '';
  return csvRows(file, lines, header.includes(';') && !header.includes(',') ? ';' : ',');
}

function csvRows(file: string, lines: string[], delimiter: string): CsvRows {
  let header: string[] | undefined;
  let headerLine = 0;
  const rows: CsvRow[] = [];
  lines.forEach((text, index) => {
    const line = index + 1;
    if (text.trim() === '' || text.startsWith('#')) return;
    const cells = splitCsvLine(text, file, line, delimiter);
    if (!header) {
      header = cells.map((cell) => cell.trim());
      headerLine = line;
      return;
    }
    if (cells.length !== header.length) tableError(file, line, `expected ${header.length} fields (${header.join(delimiter)}), found ${cells.length}`);
    rows.push({ line, cells: Object.fromEntries(header.map((name, i) => [name, cells[i]!.trim()])) });
  });
  if (!header) tableError(file, undefined, 'no header row');
  return { file, header, headerLine, rows };
}

/** Requires the header to be exactly `expected`, in order. */
export function expectHeader(table: CsvTable, expected: readonly string[]): void {
  if (table.header.join(',') !== expected.join(',')) {
    tableError(table.file, table.headerLine, `header must be "${expected.join(',')}", found "${table.header.join(',')}"`);
  }
}

function splitCsvLine(text: string, file: string, line: number, delimiter: string): string[] {
  const cells: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) tableError(file, line, 'unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += text[i++];
      }
      if (i < text.length && text[i] !== delimiter) tableError(file, line, 'text after a closing quote');
      cells.push(value);
    } else {
      const end = text.indexOf(delimiter, i);
      cells.push(text.slice(i, end === -1 ? text.length : end));
      i = end === -1 ? text.length : end;
    }
    if (i >= text.length) return cells;
    i++; // the delimiter
  }
}

/** A parsed YAML file with a way to find the line of any of its nodes. */
export interface YamlFile {
  file: string;
  doc: Document.Parsed;
  lineOf(node: Node | null | undefined): number | undefined;
}

/** Parses a YAML file, failing on syntax errors and duplicate keys with their line. */
export function readYamlFile(file: string): YamlFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(readText(file), { lineCounter, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) tableError(file, lineCounter.linePos(first.pos[0]).line, `YAML error: ${first.message.split('\n')[0]}`);
  return {
    file,
    doc,
    lineOf: (node) => (node?.range ? lineCounter.linePos(node.range[0]).line : undefined),
  };
}

/** An item of a YAML mapping or sequence, as plain JS, with its line. */
export interface YamlItem {
  line: number | undefined;
  value: unknown;
}

/** The items of the sequence at `path` (an error if it is missing or not a sequence). */
export function yamlSeq(yaml: YamlFile, path: readonly string[]): YamlItem[] {
  const node = yaml.doc.getIn(path, true) as Node | undefined;
  if (!isSeq(node)) tableError(yaml.file, yaml.lineOf(node), `"${path.join('.')}" must be a list`);
  return node.items.map((item) => ({ line: yaml.lineOf(item as Node), value: (item as Node).toJSON() as unknown }));
}

/** The entries of the mapping at `path`, keyed by their (string) key, each with its line. */
export function yamlMapEntries(yaml: YamlFile, path: readonly string[]): Array<YamlItem & { key: string }> {
  const node = yaml.doc.getIn(path, true) as Node | undefined;
  if (!isMap(node)) tableError(yaml.file, yaml.lineOf(node), `"${path.join('.')}" must be a mapping`);
  return node.items.map((pair) => ({
    key: String((pair.key as Node).toJSON()),
    line: yaml.lineOf(pair.key as Node),
    value: (pair.value as Node | null)?.toJSON() as unknown,
  }));
}

/** Line of the node at `path`, for errors about a whole section. */
export function yamlLine(yaml: YamlFile, path: readonly string[]): number | undefined {
  return yaml.lineOf(yaml.doc.getIn(path, true) as Node | undefined);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
