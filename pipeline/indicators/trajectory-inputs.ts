/**
 * The two optional inputs of the trajectory, read and checked before any heavy work:
 * - `--targets CSV` (`level,code,reduction_target[,document]`): a territory's own reduction target, as a share
 *   (0.5447) or a percentage (54.47 %); territories without one inherit it (pipeline/indicators/sql/20_trajectory.sql);
 * - `--planning-documents CSV` (`commune_code,document`): which communes have a planning document opening the
 *   garantie communale (document types in nomenclature/zan-rules.yml; RNU is recognised and not eligible).
 *
 * @example
 * const targets = readTargets('targets.csv');            // [{ level: 'scot', code: '123', reductionTarget: 0.3, document: 'SCoT …' }]
 * const documents = readPlanningDocuments('plu.csv', loadZanRules()); // [{ communeCode: '67001', document: 'PLU', eligible: true }]
 */
import { UserError } from '../core/errors.js';
import { readTableSource, type TableSource } from '../core/table-source.js';
import type { ZanRules } from '../../nomenclature/zan-rules.js';
import { TERRITORY_LEVELS, type TerritoryLevel } from '../core/territory-levels.js';

export interface TargetRow {
  level: TerritoryLevel;
  code: string;
  reductionTarget: number;
  document: string | null;
}

export interface PlanningDocumentRow {
  communeCode: string;
  document: string;
  eligible: boolean;
}

function requireColumns(table: TableSource, columns: string[], what: string, remedy: string): void {
  const missing = columns.filter((c) => !table.columns.includes(c));
  if (missing.length > 0) throw new UserError(`${what} lacks column(s) ${missing.join(', ')} (found: ${table.columns.join(', ')})`, { file: table.file, remedy });
}

const text = (value: string | number | null | undefined): string => (value === null || value === undefined ? '' : String(value).trim());

export function readTargets(file: string): TargetRow[] {
  const what = 'targets CSV';
  const table = readTableSource(file, what);
  requireColumns(table, ['level', 'code', 'reduction_target'], what, 'header: level,code,reduction_target[,document]');
  const seen = new Set<string>();
  return table.rows.map((row) => {
    const level = text(row.cells['level']).toLowerCase();
    const code = text(row.cells['code']);
    if (!TERRITORY_LEVELS.includes(level as TerritoryLevel)) throw new UserError(`level "${level}" is not one of ${TERRITORY_LEVELS.join(', ')}`, { file, feature: row.where });
    if (code === '') throw new UserError('empty code', { file, feature: row.where });
    const raw = text(row.cells['reduction_target']);
    const percent = raw.endsWith('%');
    const value = Number(raw.replace('%', '').trim().replace(',', '.'));
    const reductionTarget = percent ? value / 100 : value;
    if (raw === '' || !Number.isFinite(value) || reductionTarget < 0 || reductionTarget > 1) {
      throw new UserError(`reduction_target "${raw}" is not a share from 0 to 1 (or a percentage)`, { file, feature: row.where, remedy: 'write 0.5 or 50 %' });
    }
    const key = `${level} ${code}`;
    if (seen.has(key)) throw new UserError(`${key} has two targets`, { file, feature: row.where });
    seen.add(key);
    const document = text(row.cells['document']);
    return { level: level as TerritoryLevel, code, reductionTarget, document: document === '' ? null : document };
  });
}

export function readPlanningDocuments(file: string, rules: ZanRules): PlanningDocumentRow[] {
  const what = 'planning documents CSV';
  const table = readTableSource(file, what);
  requireColumns(table, ['commune_code', 'document'], what, 'header: commune_code,document');
  const known = [...rules.trajectory.guaranteeDocuments, ...rules.trajectory.notEligibleDocuments].join(', ');
  const seen = new Set<string>();
  return table.rows.map((row) => {
    const communeCode = text(row.cells['commune_code']);
    const document = text(row.cells['document']);
    if (communeCode === '') throw new UserError('empty commune_code', { file, feature: row.where });
    const eligible = rules.documentEligible(document);
    if (eligible === null) throw new UserError(`unknown document type "${document}"`, { file, feature: row.where, remedy: `expected one of ${known} (${rules.file})` });
    if (seen.has(communeCode)) throw new UserError(`commune ${communeCode} is listed twice`, { file, feature: row.where });
    seen.add(communeCode);
    return { communeCode, document, eligible };
  });
}
