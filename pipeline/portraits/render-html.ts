/**
 * Serialises portrait models to self-contained HTML (inline CSS and SVG, no network, readable
 * without script) and writes the index page (small inline script to sort and filter; the table reads
 * fine without it). Figure cells carry `data-key` / `data-value` with the raw DB value.
 *
 * @example const html = renderPortraitHtml(model);
 */
import { esc, formatFigure } from './format.js';
import { type Cell, LEVEL_LABELS, type PortraitModel, type Table, TRAJECTORY_STATUS_LABELS } from './portrait-model.js';
import { TERRITORY_LEVELS_TOP_DOWN, type TerritoryLevel } from '../core/territory-levels.js';

const CSS = `
:root{color-scheme:light}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:1rem 1.5rem;color:#1d1d1d;line-height:1.45}
h1{font-size:1.7rem;margin:.2rem 0 1rem}h2{font-size:1.25rem;border-bottom:2px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
nav a{margin-right:1rem}
.card{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1.5rem;background:#f5f5f2;padding:1rem;border-radius:6px}
.card dt{font-weight:600}.card dd{margin:0}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.92rem}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#eee}td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
svg.chart{max-width:100%;height:auto;display:block;margin:.5rem 0}
.note{font-size:.9rem;color:#444}
@media print{body{max-width:none}h2{break-after:avoid}svg.chart,table{break-inside:avoid}nav,.filters{display:none}}
`;

function cellHtml(cell: Cell, header = false): string {
  if (typeof cell === 'string') return header ? `<th scope="row">${esc(cell)}</th>` : `<td>${esc(cell)}</td>`;
  if (cell.kind === 'link') return `<td>${linkHtml(cell)}</td>`;
  const value = cell.value === null ? '' : String(cell.value);
  return `<td class="num" data-key="${esc(cell.key)}" data-value="${esc(value)}">${esc(cell.text)}</td>`;
}

function linkHtml(cell: Exclude<Cell, string | { kind: 'figure' }>): string {
  return cell.target ? `<a href="${esc(cell.target)}.html">${esc(cell.text)}</a>` : esc(cell.text);
}

function tableHtml(table: Table): string {
  if (table.rows.length === 0) return `<p class="note">${esc(table.caption)} : pas de donnée pour ce territoire.</p>`;
  const head = `<thead><tr>${table.head.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead>`;
  const body = table.rows.map((row) => `<tr>${row.map((c, i) => cellHtml(c, i === 0)).join('')}</tr>`).join('\n');
  return `<table><caption>${esc(table.caption)}</caption>${head}<tbody>\n${body}\n</tbody></table>`;
}

function page(title: string, body: string, script = ''): string {
  return `<!DOCTYPE html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
${body}
${script ? `<script>${script}</script>` : ''}
</body>
</html>
`;
}

export function renderPortraitHtml(model: PortraitModel): string {
  const t = model.territory;
  const identity = model.identity
    .map(([label, value]) => {
      const cells = Array.isArray(value) ? value : [value];
      const html = cells
        .map((c) => (typeof c === 'string' ? esc(c) : c.kind === 'link' ? linkHtml(c) : `<span data-key="${esc(c.key)}" data-value="${esc(c.value === null ? '' : String(c.value))}">${esc(c.text)}</span>`))
        .join(', ');
      return `<dt>${esc(label)}</dt><dd>${html}</dd>`;
    })
    .join('');
  const sections = model.sections
    .map(
      (s) =>
        `<section id="${esc(s.id)}"><h2>${esc(s.title)}</h2>${s.paragraphs.map((p) => `<p class="note">${esc(p)}</p>`).join('')}` +
        `${s.chart ? `<figure>${s.chart}</figure>` : ''}${s.tables.map(tableHtml).join('')}</section>`,
    )
    .join('\n');
  const body =
    `<nav><a href="index.html">← Tous les territoires</a></nav>` +
    `<header><h1>${esc(model.title)}</h1><dl class="card">${identity}</dl></header>\n<main data-level="${esc(t.level)}" data-code="${esc(t.code)}">\n${sections}\n</main>`;
  return page(`${model.title} — portrait ZAN`, body);
}

export interface IndexEntry {
  level: TerritoryLevel;
  code: string;
  name: string;
  file: string;
  areaHa: number | null;
  artificialisedShare: number | null;
  netHa: number | null;
  netShare: number | null;
  enafHa: number | null;
  /** trajectory.status, or null when the database has no trajectory row. */
  trajectoryStatus: string | null;
}

const SORT_SCRIPT = `
document.querySelectorAll('th[data-sort]').forEach(function (th, col) {
  th.style.cursor = 'pointer';
  th.addEventListener('click', function () {
    var body = document.querySelector('#territoires tbody');
    var asc = th.getAttribute('aria-sort') !== 'ascending';
    document.querySelectorAll('th[data-sort]').forEach(function (o) { o.removeAttribute('aria-sort'); });
    th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
    var numeric = th.getAttribute('data-sort') === 'num';
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute('data-sort-value'), y = b.cells[col].getAttribute('data-sort-value');
      var c = numeric ? (x === '' ? -Infinity : Number(x)) - (y === '' ? -Infinity : Number(y)) : x.localeCompare(y, 'fr');
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
document.getElementById('niveau').addEventListener('change', function (e) {
  var level = e.target.value;
  Array.prototype.forEach.call(document.querySelectorAll('#territoires tbody tr'), function (r) {
    r.hidden = level !== '' && r.getAttribute('data-level') !== level;
  });
});
`;

export function renderIndexHtml(entries: IndexEntry[], generated: { title: string }): string {
  const levels = TERRITORY_LEVELS_TOP_DOWN.filter((l) => entries.some((e) => e.level === l));
  const num = (value: number | null | boolean, kind: Parameters<typeof formatFigure>[0]): string =>
    `<td class="num" data-sort-value="${value === null ? '' : Number(value)}">${esc(formatFigure(kind, value))}</td>`;
  const rows = entries
    .map(
      (e) =>
        `<tr data-level="${esc(e.level)}"><td data-sort-value="${levels.indexOf(e.level)}">${esc(LEVEL_LABELS[e.level])}</td>` +
        `<td data-sort-value="${esc(e.code)}">${esc(e.code)}</td><td data-sort-value="${esc(e.name)}"><a href="${esc(e.file)}.html">${esc(e.name)}</a></td>` +
        `${num(e.areaHa, 'hectares')}${num(e.artificialisedShare, 'share')}${num(e.netHa, 'hectares')}${num(e.netShare, 'share')}${num(e.enafHa, 'hectares')}` +
        `<td data-sort-value="${esc(e.trajectoryStatus ?? '')}">${esc(e.trajectoryStatus === null ? '—' : (TRAJECTORY_STATUS_LABELS[e.trajectoryStatus] ?? e.trajectoryStatus))}</td></tr>`,
    )
    .join('\n');
  const options = levels.map((l) => `<option value="${l}">${esc(LEVEL_LABELS[l])} (${entries.filter((e) => e.level === l).length})</option>`).join('');
  const head = [
    ['Niveau', 'num'], ['Code', 'text'], ['Nom', 'text'], ['Surface', 'num'], ['Part artificialisée (dernier millésime)', 'num'],
    ['Artificialisation nette', 'num'], ['Solde net / surface', 'num'], ['Consommation d’ENAF', 'num'], ['Trajectoire 2021–2030', 'text'],
  ]
    .map(([label, kind]) => `<th scope="col" data-sort="${kind}">${esc(label!)}</th>`)
    .join('');
  const body =
    `<header><h1>${esc(generated.title)}</h1><p class="note">${entries.length} portraits. Artificialisation nette et consommation d’ENAF sur la plus longue période disponible ; ENAF mesurée par l’OCS (pas le chiffre officiel du Cerema). Cliquer un en-tête pour trier.</p></header>` +
    `<p class="filters"><label for="niveau">Niveau : </label><select id="niveau"><option value="">Tous</option>${options}</select></p>` +
    `<table id="territoires"><caption>Territoires</caption><thead><tr>${head}</tr></thead><tbody>\n${rows}\n</tbody></table>`;
  return page(generated.title, body, SORT_SCRIPT);
}
