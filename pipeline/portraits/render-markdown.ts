/**
 * Serialises a portrait model to Markdown (`md/<level>-<code>.md`): the identity card and every
 * figure table; charts are omitted (the HTML portrait has them).
 *
 * @example const md = renderPortraitMarkdown(model);
 */
import type { Cell, PortraitModel, Table } from './portrait-model.js';

const mdEscape = (text: string): string => text.replace(/([\\|*_`[\]<>])/g, '\\$1').replace(/\n/g, ' ');

function cellMd(cell: Cell): string {
  if (typeof cell === 'string') return mdEscape(cell);
  if (cell.kind === 'link') return cell.target ? `[${mdEscape(cell.text)}](${cell.target}.md)` : mdEscape(cell.text);
  return mdEscape(cell.text);
}

function tableMd(table: Table): string {
  if (table.rows.length === 0) return `${mdEscape(table.caption)} : pas de donnée pour ce territoire.\n`;
  const head = `| ${table.head.map(mdEscape).join(' | ')} |\n|${table.head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`;
  return `**${mdEscape(table.caption)}**\n\n${head}\n${table.rows.map((r) => `| ${r.map(cellMd).join(' | ')} |`).join('\n')}\n`;
}

export function renderPortraitMarkdown(model: PortraitModel): string {
  const identity = model.identity
    .map(([label, value]) => `- **${mdEscape(label)}** : ${(Array.isArray(value) ? value : [value]).map(cellMd).join(', ')}`)
    .join('\n');
  const sections = model.sections
    .map((s) => [`## ${mdEscape(s.title)}`, ...s.paragraphs.map(mdEscape), ...s.tables.map(tableMd)].join('\n\n'))
    .join('\n\n');
  return `# ${mdEscape(model.title)}\n\n[Tous les territoires](../index.html)\n\n${identity}\n\n${sections}\n`;
}
