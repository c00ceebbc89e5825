// ocs-zan map viewer: reads ../tiles/ocs.pmtiles through the pmtiles protocol (HTTP ranges) and
// builds the style from the archive's own metadata (vintages, change layers, territory levels, legend).
import * as maplibregl from '../lib/maplibre-gl.mjs';

const CHANGE_COLOURS = {
  artificialisation: '#d7301f',
  desartificialisation: '#1a9850',
  enaf_consumption: '#fc8d59',
  renaturation: '#91cf60',
  other: '#807dba',
};
// Net artificialisation first → last vintage, % of the territory's area.
const NET_SHARE_STOPS = [
  [-1, '#1a9641'],
  [0, '#ffffbf'],
  [0.5, '#fdae61'],
  [2, '#d7191c'],
];
const LEVEL_NAMES = { region: 'Région', departement: 'Département', scot: 'SCoT', epci: 'EPCI', commune: 'Commune' };

const protocol = new pmtiles.Protocol();
maplibregl.addProtocol('pmtiles', protocol.tile);
const archiveUrl = new URL('../tiles/ocs.pmtiles', window.location.href).href;
const archive = new pmtiles.PMTiles(archiveUrl);
protocol.add(archive);

const header = await archive.getHeader();
const meta = await archive.getMetadata();
const layerIds = meta.vector_layers.map((l) => l.id);
const vintages = meta.vintages;
const periods = layerIds.filter((id) => id.startsWith('change_'));
const levels = Object.keys(meta.territory_levels);
const legend = meta.legend;

const categoryColour = ['match', ['get', 'category'], ...legend.flatMap((e) => [e.category, e.colour]), '#9e9e9e'];
const netShare = ['*', 100, ['/', ['coalesce', ['get', 'net_artif_ha'], 0], ['max', ['coalesce', ['get', 'area_ha'], 1], 1e-9]]];

const layers = [{ id: 'background', type: 'background', paint: { 'background-color': '#f4f3ef' } }];
for (const v of vintages) {
  layers.push({
    id: `landuse-${v}`,
    type: 'fill',
    source: 'ocs',
    'source-layer': `landuse_${v}`,
    layout: { visibility: 'none' },
    paint: { 'fill-color': categoryColour, 'fill-opacity': 0.85 },
  });
}
for (const p of periods) {
  layers.push({
    id: p,
    type: 'fill',
    source: 'ocs',
    'source-layer': p,
    layout: { visibility: 'none' },
    paint: {
      'fill-color': ['match', ['get', 'kind'], ...Object.entries(CHANGE_COLOURS).flat(), '#807dba'],
      'fill-opacity': 0.9,
      'fill-outline-color': '#333333',
    },
  });
}
for (const level of levels) {
  const [minzoom, maxzoom] = meta.territory_levels[level];
  const base = { source: 'ocs', 'source-layer': `territory_${level}`, minzoom, maxzoom: maxzoom + 1, layout: { visibility: 'none' } };
  layers.push({
    ...base,
    id: `territory-${level}`,
    type: 'fill',
    // The choropleth fades as land use becomes readable underneath.
    paint: {
      'fill-color': ['interpolate', ['linear'], netShare, ...NET_SHARE_STOPS.flat()],
      'fill-opacity': ['interpolate', ['linear'], ['zoom'], 9, 0.6, 12, 0.1],
    },
  });
  layers.push({ ...base, id: `territory-${level}-outline`, type: 'line', paint: { 'line-color': '#333333', 'line-width': 1.2 } });
}

const map = new maplibregl.Map({
  container: 'map',
  style: {
    version: 8,
    sources: { ocs: { type: 'vector', url: `pmtiles://${archiveUrl}`, attribution: meta.attribution } },
    layers,
  },
  center: [header.centerLon, header.centerLat],
  zoom: header.centerZoom,
  minZoom: Math.max(0, header.minZoom - 1),
  attributionControl: { compact: false },
});
map.addControl(new maplibregl.NavigationControl(), 'top-right');
map.addControl(new maplibregl.ScaleControl(), 'bottom-right');
window.__map = map;

// Controls.
const $ = (id) => document.getElementById(id);
const fill = (select, values, label) => {
  for (const value of values) select.append(new Option(label(value), value));
};
fill($('vintage'), vintages, String);
$('vintage').value = String(vintages[vintages.length - 1]);
fill($('period'), periods, (p) => p.slice(7).replace('_', ' → '));
fill($('level'), levels, (l) => LEVEL_NAMES[l] ?? l);
$('level').value = levels.includes('commune') ? 'commune' : levels[0] ?? '';
$('attribution').textContent = meta.attribution;

for (const e of legend) {
  const li = document.createElement('li');
  li.innerHTML = `<span class="swatch" style="background:${e.colour}"></span><span>${e.category}. ${escapeHtml(e.label)}${e.artificialised ? ' <em>(artificialisé)</em>' : ''}</span>`;
  $('legend').append(li);
}
for (const [value, colour] of NET_SHARE_STOPS) {
  const div = document.createElement('div');
  div.innerHTML = `<span class="swatch" style="background:${colour}"></span><span>${value > 0 ? '+' : ''}${value} %</span>`;
  $('choropleth-legend').append(div);
}

function setVisible(id, visible) {
  if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', visible ? 'visible' : 'none');
}

function applyControls() {
  for (const v of vintages) setVisible(`landuse-${v}`, String(v) === $('vintage').value);
  for (const p of periods) setVisible(p, $('show-change').checked && p === $('period').value);
  for (const level of levels) {
    const on = $('show-territory').checked && level === $('level').value;
    setVisible(`territory-${level}`, on);
    setVisible(`territory-${level}-outline`, on);
  }
}
for (const id of ['vintage', 'show-change', 'period', 'show-territory', 'level']) $(id).addEventListener('change', applyControls);
map.on('load', applyControls);

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

const format = (value, digits, unit) => (value === undefined ? '—' : `${Number(value).toLocaleString('fr-FR', { maximumFractionDigits: digits })} ${unit}`);

map.on('click', (event) => {
  const territoryLayers = levels.map((l) => `territory-${l}`).filter((id) => map.getLayoutProperty(id, 'visibility') === 'visible');
  const landuseLayer = `landuse-${$('vintage').value}`;
  const hits = map.queryRenderedFeatures(event.point, { layers: [...territoryLayers, landuseLayer] });
  const territory = hits.find((f) => f.layer.id.startsWith('territory-'));
  const piece = hits.find((f) => f.layer.id === landuseLayer);
  const rows = [];
  if (territory) {
    const p = territory.properties;
    const level = territory.layer.id.slice('territory-'.length);
    rows.push(`<strong>${escapeHtml(p.name ?? p.code)}</strong> (${escapeHtml(LEVEL_NAMES[level] ?? level)} ${escapeHtml(p.code)})`);
    rows.push(
      '<table>' +
        `<tr><td>Surface</td><td>${format(p.area_ha, 1, 'ha')}</td></tr>` +
        `<tr><td>Part artificialisée (dernier millésime)</td><td>${p.artificialised_share === undefined ? '—' : format(p.artificialised_share * 100, 2, '%')}</td></tr>` +
        `<tr><td>Artificialisation nette</td><td>${format(p.net_artif_ha, 2, 'ha')}</td></tr>` +
        `<tr><td>Consommation d'ENAF</td><td>${format(p.enaf_consumption_ha, 2, 'ha')}</td></tr>` +
        `<tr><td>Couverture</td><td>${escapeHtml(p.coverage_status ?? '—')}</td></tr>` +
        '</table>',
    );
    rows.push(`<a href="../portraits/${encodeURIComponent(level)}-${encodeURIComponent(p.code)}.html">Portrait du territoire</a>`);
  }
  if (piece) {
    const p = piece.properties;
    const entry = legend.find((e) => e.category === p.category);
    rows.push(`<div>${escapeHtml(p.code_cs)} × ${escapeHtml(p.code_us)} — ${escapeHtml(entry ? entry.label : 'non classé')}</div>`);
  }
  if (rows.length > 0) new maplibregl.Popup({ maxWidth: '320px' }).setLngLat(event.lngLat).setHTML(`<div class="popup">${rows.join('')}</div>`).addTo(map);
});
