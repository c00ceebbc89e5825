/**
 * Builds the content of one territory portrait (identity card, sections with a chart and figure
 * tables) from the in-memory dataset. HTML and Markdown renderers serialise the same model, so both
 * show the same figures. Every figure cell carries the DB table, column and row filters it came from.
 *
 * @example const doc = buildPortraitModel(dataset, territory, { published, neighbours });
 */
import type Flatbush from 'flatbush';
import { DESTINATIONS } from '../core/types.js';
import { figureKind, formatFigure, formatNumber } from './format.js';
import { type PortraitDataset, type Row, type TerritoryInfo, levelRank, num, territoryKey } from './dataset.js';
import { CATEGORY_COLORS, FLUX_COLORS, type MapFeature, type Series, choroplethMap, groupedBars, stackedBars, trajectoryChart } from './svg-charts.js';
import { polygonRings, ringsBbox } from '../core/wkb.js';
import { type TerritoryLevel } from '../core/territory-levels.js';

export const LEVEL_LABELS: Record<TerritoryLevel, string> = {
  region: 'Région',
  departement: 'Département',
  scot: 'SCoT',
  epci: 'EPCI',
  commune: 'Commune',
};

/** TerritoryLevel names inside a sentence: singular and plural. */
const LEVEL_NOUNS: Record<TerritoryLevel, [string, string]> = {
  region: ['région', 'régions'],
  departement: ['département', 'départements'],
  scot: ['SCoT', 'SCoT'],
  epci: ['EPCI', 'EPCI'],
  commune: ['commune', 'communes'],
};

const STATUS_LABELS: Record<string, string> = {
  complete_uniform: 'couverture complète, millésimes homogènes',
  complete_mixed: 'couverture complète, millésimes différents selon les départements',
  partial: 'couverture partielle',
  no_data: 'pas de donnée OCS',
};

export const TRAJECTORY_STATUS_LABELS: Record<string, string> = {
  within_allowance: 'dans l’enveloppe',
  estimated_to_exceed: 'dépassement estimé',
  exceeded: 'enveloppe dépassée',
  no_consumption_data: 'consommation depuis 2021 non mesurée',
  not_computable: 'non calculable',
};

export const DESTINATION_LABELS: Record<string, string> = {
  habitat: 'Habitat',
  activite: 'Activité',
  mixte: 'Mixte',
  route: 'Route',
  ferre: 'Ferré',
  autre_infrastructure: 'Autres infrastructures',
  inconnu: 'Inconnu',
};

/** Net artificialisation classes (share of the surface) used by every map, so maps compare. */
export const MAP_BREAKS = [0, 0.001, 0.0025, 0.005, 0.01] as const;
export const MAP_COLORS = ['#4393c3', '#fee5d9', '#fcae91', '#fb6a4a', '#de2d26', '#a50f15'] as const;
export const MAP_CLASS_LABELS = ['≤ 0 % (désartificialisation)', '0 à 0,1 %', '0,1 à 0,25 %', '0,25 à 0,5 %', '0,5 à 1 %', '> 1 %'] as const;

export interface FigureCell {
  kind: 'figure';
  /** `table|column|filter=value|…`; level and code are the portrait's unless given as filters. */
  key: string;
  value: number | boolean | null;
  text: string;
}

export interface LinkCell {
  kind: 'link';
  /** File name without extension, e.g. `epci-245500001`; null when that portrait is not published. */
  target: string | null;
  text: string;
}

export type Cell = string | FigureCell | LinkCell;

export interface Table {
  caption: string;
  head: string[];
  rows: Cell[][];
}

export interface Section {
  id: string;
  title: string;
  paragraphs: string[];
  chart: string | null;
  tables: Table[];
}

export interface PortraitModel {
  territory: TerritoryInfo;
  file: string;
  title: string;
  identity: Array<[string, Cell | Cell[]]>;
  sections: Section[];
}

export interface ModelContext {
  /** Keys (`territoryKey`) of the portraits being written, for links. */
  published: Set<string>;
  /** Spatial index over commune bounding boxes (ids = index in `communeKeys`), for commune maps. */
  communeIndex: Flatbush | null;
  communeKeys: string[];
  /** Parsed rings cache. */
  rings: (key: string) => number[][][];
}

export const portraitFile = (level: string, code: string): string => `${level}-${code}`;

function figure(table: string, column: string, filters: Record<string, string | number>, value: number | boolean | null): FigureCell {
  const key = [table, column, ...Object.entries(filters).map(([k, v]) => `${k}=${v}`)].join('|');
  return { kind: 'figure', key, value, text: formatFigure(figureKind(column), value) };
}

const fig = (table: string, column: string, row: Row | undefined, filters: Record<string, string | number> = {}): FigureCell => {
  const v = row?.[column];
  return figure(table, column, filters, typeof v === 'number' || typeof v === 'boolean' ? v : null);
};

/** Real years behind a vintage label on a territory, when they are not just the label (--vintage-years). */
function photoYearsOf(data: PortraitDataset, key: string, vintage: number): number[] | null {
  const years = data.photoYears.get(key)?.get(vintage);
  return years && !(years.length === 1 && years[0] === vintage) ? years : null;
}

/** `2010`, or `2010 (photos 2007)` when the data behind the label was photographed in other years. */
const vintageLabel = (data: PortraitDataset, key: string, vintage: number): string => {
  const years = photoYearsOf(data, key, vintage);
  return years ? `${vintage} (photos ${years.join(', ')})` : String(vintage);
};

/** `2010 → 2019`, or `2010 → 2019 (photos 2007 → 2018)` when the years behind the labels differ from them. */
const periodLabel = (data: PortraitDataset, key: string, row: Row): string => {
  const [from, to] = [Number(row.from_vintage), Number(row.to_vintage)];
  const [fromYears, toYears] = [photoYearsOf(data, key, from), photoYearsOf(data, key, to)];
  const photos = fromYears || toYears ? ` (photos ${(fromYears ?? [from]).join(', ')} → ${(toYears ?? [to]).join(', ')})` : '';
  return `${from} → ${to}${photos}`;
};
const periodFilters = (row: Row): Record<string, number> => ({ from_vintage: Number(row.from_vintage), to_vintage: Number(row.to_vintage) });
const ha = (m2: number | null): number | null => (m2 === null ? null : m2 / 10_000);

/** The row spanning the most vintages (first → last). */
function longest(rows: Row[] | undefined, span: (r: Row) => number): Row | undefined {
  let best: Row | undefined;
  for (const r of rows ?? []) if (!best || span(r) > span(best)) best = r;
  return best;
}
const rankSpan = (r: Row): number => Number(r.to_rank) - Number(r.from_rank);
const yearSpan = (r: Row): number => Number(r.to_vintage) - Number(r.from_vintage);

function link(data: PortraitDataset, ctx: ModelContext, level: string, code: string): LinkCell {
  const key = territoryKey(level, code);
  const t = data.byKey.get(key);
  return { kind: 'link', target: ctx.published.has(key) ? portraitFile(level, code) : null, text: t ? `${t.name} (${code})` : code };
}

/** Levels above, with the territories this one belongs to (from membership, majority of communes). */
function ancestors(data: PortraitDataset, t: TerritoryInfo): Array<{ level: TerritoryLevel; code: string }> {
  const communes = data.communesOf.get(territoryKey(t.level, t.code)) ?? [];
  const counts = new Map<string, { level: TerritoryLevel; code: string; n: number }>();
  for (const commune of communes)
    for (const m of data.membershipOfCommune.get(commune) ?? []) {
      if (levelRank(m.level) >= levelRank(t.level) || m.level === t.level) continue;
      // SCoTs do not nest in EPCIs nor the reverse: only list levels strictly above in the hierarchy.
      if ((t.level === 'scot' && m.level === 'epci') || (t.level === 'epci' && m.level === 'scot')) continue;
      const key = territoryKey(m.level, m.code);
      const entry = counts.get(key) ?? { ...m, n: 0 };
      entry.n++;
      counts.set(key, entry);
    }
  const best = new Map<TerritoryLevel, { level: TerritoryLevel; code: string; n: number }>();
  for (const c of [...counts.values()].sort((a, b) => b.n - a.n || a.code.localeCompare(b.code))) if (!best.has(c.level)) best.set(c.level, c);
  return [...best.values()].sort((a, b) => levelRank(a.level) - levelRank(b.level)).map(({ level, code }) => ({ level, code }));
}

/** Children drawn on the map: départements of a région, EPCIs of a département, communes of an EPCI or SCoT. */
function mapMembers(data: PortraitDataset, ctx: ModelContext, t: TerritoryInfo): TerritoryInfo[] {
  const key = territoryKey(t.level, t.code);
  if (t.level === 'commune') {
    const [minX, minY, maxX, maxY] = ringsBbox(ctx.rings(key));
    if (!ctx.communeIndex || !Number.isFinite(minX)) return [t];
    const ids = ctx.communeIndex.search(minX, minY, maxX, maxY);
    return ids.map((i) => data.byKey.get(ctx.communeKeys[i]!)!).sort((a, b) => a.code.localeCompare(b.code));
  }
  const childLevel: TerritoryLevel = t.level === 'region' ? 'departement' : t.level === 'departement' ? 'epci' : 'commune';
  const children = data.territories.filter((c) => c.level === childLevel && data.portrait.get(territoryKey(c.level, c.code))?.parent_code === t.code);
  if (childLevel !== 'commune' && children.length > 0) return children;
  return (data.communesOf.get(key) ?? []).map((code) => data.byKey.get(territoryKey('commune', code))).filter((c): c is TerritoryInfo => c !== undefined);
}


export function ringsFor(data: PortraitDataset): (key: string) => number[][][] {
  const cache = new Map<string, number[][][]>();
  return (key) => {
    let rings = cache.get(key);
    if (!rings) {
      const wkb = data.wkb.get(key);
      rings = wkb ? polygonRings(wkb) : [];
      cache.set(key, rings);
    }
    return rings;
  };
}

export function buildPortraitModel(data: PortraitDataset, ctx: ModelContext, t: TerritoryInfo): PortraitModel {
  const key = territoryKey(t.level, t.code);
  const p = data.portrait.get(key);
  const sections: Section[] = [];
  const levelName = LEVEL_LABELS[t.level];

  // Identity card.
  const ancestorLinks = ancestors(data, t).map((a) => link(data, ctx, a.level, a.code));
  const identity: PortraitModel['identity'] = [
    ['Niveau', levelName],
    ['Code', t.code],
    ['Territoires d’appartenance', ancestorLinks.length ? ancestorLinks : '—'],
    ['Surface', figure('territory', 'area_m2', {}, t.areaM2)],
    ['Données', STATUS_LABELS[t.coverageStatus] ?? t.coverageStatus],
    ['Millésimes', t.vintages || '—'],
  ];
  const labelled = [...(data.photoYears.get(key)?.keys() ?? [])];
  if (labelled.some((v) => photoYearsOf(data, key, v))) identity.push(['Années des photos', labelled.map((v) => vintageLabel(data, key, v)).join(', ')]);

  // Comparison with parent and siblings.
  if (p) {
    const parent = p.parent_code ? link(data, ctx, String(p.parent_level), String(p.parent_code)) : null;
    sections.push({
      id: 'comparaison',
      title: 'Comparaison',
      paragraphs: parent
        ? [`Rang parmi les territoires de même niveau ayant le même territoire parent, par part annuelle d’artificialisation nette de la surface sur la plus longue période (1 = la plus forte ; annualisée, car les périodes diffèrent selon les départements).`]
        : ['Pas de territoire parent : rang parmi tous les territoires de même niveau.'],
      chart: null,
      tables: [
        {
          caption: 'Artificialisation nette comparée',
          head: ['Indicateur', 'Valeur'],
          rows: [
            ['Artificialisation nette (plus longue période)', fig('portrait_territory', 'net_ha_full', p)],
            ['Part de la surface', fig('portrait_territory', 'net_share_full', p)],
            ['Part de la surface par an', fig('portrait_territory', 'net_share_per_year_full', p)],
            ['Rang parmi les territoires voisins de même niveau', fig('portrait_territory', 'sibling_rank', p)],
            ['Nombre de territoires comparés', fig('portrait_territory', 'sibling_count', p)],
            ...(parent
              ? ([
                  ['Territoire parent', parent],
                  ['Artificialisation nette du parent', fig('portrait_territory', 'parent_net_ha_full', p)],
                  ['Part de la surface du parent', fig('portrait_territory', 'parent_net_share_full', p)],
                ] as Cell[][])
              : []),
          ],
        },
      ],
    });
  }

  // Vintage years differ between départements: say which years each figure combines.
  const mixed = t.coverageStatus === 'complete_mixed';

  // Stock by category and vintage.
  const stock = data.stock.get(key) ?? [];
  const summaries = data.stockSummary.get(key) ?? [];
  const vintages = [...new Set(stock.map((r) => Number(r.vintage)))].sort((a, b) => a - b);
  // Unclassified polygons (category 0, with --unknown-codes=report) are shown too, so bars add up to the covered area.
  const categories = stock.some((r) => Number(r.category) === 0) ? [{ category: 0, label: 'Non classé', artificialised: false }, ...data.categories] : data.categories;
  const catSeries: Series[] = categories.map((c) => ({ key: String(c.category), label: `${c.category}. ${c.label}`, color: CATEGORY_COLORS[c.category] ?? '#999' }));
  const stockOf = (vintage: number, category: number): Row | undefined => stock.find((r) => Number(r.vintage) === vintage && Number(r.category) === category);
  sections.push({
    id: 'stock',
    title: 'Occupation du sol par catégorie (décret 2023-1096)',
    paragraphs: ['Catégories 1 à 5 : surfaces artificialisées ; 6 à 10 : surfaces non artificialisées.'],
    chart: vintages.length
      ? stackedBars({
          id: 'chart-stock',
          title: `Surface par catégorie et par millésime, ${t.name}`,
          desc: `Barres empilées, une par millésime (${vintages.join(', ')}), surfaces en hectares par catégorie du décret 2023-1096.`,
          axisLabel: 'Surface (ha)',
          series: catSeries,
          bars: vintages.map((v) => ({ label: vintageLabel(data, key, v), values: Object.fromEntries(categories.map((c) => [String(c.category), ha(num(stockOf(v, c.category), 'area_m2')) ?? 0])) })),
        })
      : null,
    tables: [
      {
        caption: 'Surface par catégorie',
        head: ['Catégorie', ...vintages.map((v) => vintageLabel(data, key, v))],
        rows: categories.map((c) => [`${c.category}. ${c.label}`, ...vintages.map((v) => fig('stock', 'area_m2', stockOf(v, c.category), { vintage: v, category: c.category }))]),
      },
      {
        caption: 'Stock artificialisé et imperméabilisé',
        head: ['Millésime', 'Surface couverte', 'Non couverte', 'Artificialisé', 'Part artificialisée', 'Imperméabilisé', ...(mixed ? ['Années combinées'] : [])],
        rows: summaries.map((s) => {
          const f = { vintage: Number(s.vintage) };
          return [
            vintageLabel(data, key, Number(s.vintage)),
            fig('stock_summary', 'covered_m2', s, f),
            fig('stock_summary', 'uncovered_m2', s, f),
            fig('stock_summary', 'artificialised_m2', s, f),
            fig('stock_summary', 'artificialised_share', s, f),
            fig('stock_summary', 'sealed_m2', s, f),
            ...(mixed ? [String(s.years_combined ?? '—')] : []),
          ];
        }),
      },
    ],
  });

  // Artificialisation flux per period.
  const flux = data.artifFlux.get(key) ?? [];
  const impermRows = data.impermFlux.get(key) ?? [];
  sections.push({
    id: 'flux',
    title: 'Artificialisation, désartificialisation et solde net',
    paragraphs: [
      'Par période entre millésimes successifs et sur toute la période ; valeurs annuelles rapportées au nombre d’années de chaque période.',
      ...flux
        .filter((r) => r.rule_mix === true)
        .map((r) => `Attention, ${periodLabel(data, key, r)} : un millésime est classé par le champ « artif » de l’IGN (règles de seuils du décret) et l’autre par la matrice CS × US ; une partie du flux peut venir du changement de méthode.`),
    ],
    chart: flux.length
      ? groupedBars({
          id: 'chart-flux',
          title: `Flux d’artificialisation par période, ${t.name}`,
          desc: `Barres groupées par période : artificialisation, désartificialisation et solde net, en hectares.`,
          axisLabel: 'Surface (ha)',
          series: [
            { key: 'a', label: 'Artificialisation', color: FLUX_COLORS.artificialisation },
            { key: 'd', label: 'Désartificialisation', color: FLUX_COLORS.desartificialisation },
            { key: 'n', label: 'Solde net', color: FLUX_COLORS.net },
          ],
          groups: flux.map((r) => ({ label: periodLabel(data, key, r), values: { a: ha(num(r, 'artificialisation_m2')), d: ha(num(r, 'desartificialisation_m2')), n: ha(num(r, 'net_m2')) } })),
        })
      : null,
    tables: [
      {
        caption: 'Flux d’artificialisation',
        head: ['Période', 'Années', 'Artificialisation', 'Désartificialisation', 'Solde net', 'Solde net par an', 'Solde net / surface', ...(mixed ? ['Années combinées'] : [])],
        rows: flux.map((r) => {
          const f = periodFilters(r);
          return [
            periodLabel(data, key, r),
            fig('artif_flux', 'years', r, f),
            fig('artif_flux', 'artificialisation_m2', r, f),
            fig('artif_flux', 'desartificialisation_m2', r, f),
            fig('artif_flux', 'net_m2', r, f),
            fig('artif_flux', 'net_m2_per_year', r, f),
            fig('artif_flux', 'net_share_of_area', r, f),
            ...(mixed ? [String(r.years_combined ?? '—')] : []),
          ];
        }),
      },
      {
        caption: 'Imperméabilisation (catégories 1 et 2)',
        head: ['Période', 'Imperméabilisation', 'Désimperméabilisation', 'Solde net'],
        rows: impermRows.map((r) => {
          const f = periodFilters(r);
          return [periodLabel(data, key, r), fig('imperm_flux', 'impermeabilisation_m2', r, f), fig('imperm_flux', 'desimpermeabilisation_m2', r, f), fig('imperm_flux', 'net_m2', r, f)];
        }),
      },
    ],
  });

  // Flux by couverture and usage over the longest period.
  const full = longest(flux, rankSpan);
  const detail = full ? (data.fluxDetail.get(key) ?? []).filter((r) => r.from_vintage === full.from_vintage && r.to_vintage === full.to_vintage) : [];
  const codeWithLabel = (code: string): string => (data.codeLabels.has(code) ? `${code} ${data.codeLabels.get(code)}` : code);
  for (const axis of ['cs', 'us'] as const) {
    const rows = detail.filter((r) => r.axis === axis);
    const codes = [...new Set(rows.map((r) => String(r.class_code)))].sort();
    const column = axis === 'cs' ? 'to_cs' : 'to_us';
    const valueOf = (code: string, direction: string): Row | undefined => rows.find((r) => String(r.class_code) === code && r.direction === direction);
    const cell = (code: string, direction: string): FigureCell =>
      figure('artif_flux_detail', 'sum(area_m2)', { ...periodFilters(full!), direction, [column]: code }, num(valueOf(code, direction), 'area_m2'));
    const axisName = axis === 'cs' ? 'couverture' : 'usage';
    sections.push({
      id: `flux-${axis}`,
      title: `Flux par ${axisName} d’arrivée${full ? ` (${periodLabel(data, key, full)})` : ''}`,
      paragraphs: [`Surfaces artificialisées et désartificialisées selon le code de ${axisName} OCS GE après le changement.`],
      chart: codes.length
        ? groupedBars({
            id: `chart-flux-${axis}`,
            title: `Flux par ${axisName}, ${t.name}`,
            desc: `Barres groupées par code de ${axisName} : artificialisation et désartificialisation en hectares.`,
            axisLabel: 'Surface (ha)',
            series: [
              { key: 'a', label: 'Artificialisation', color: FLUX_COLORS.artificialisation },
              { key: 'd', label: 'Désartificialisation', color: FLUX_COLORS.desartificialisation },
            ],
            groups: codes.map((code) => ({ label: code, values: { a: ha(num(valueOf(code, 'artificialisation'), 'area_m2') ?? 0), d: ha(num(valueOf(code, 'desartificialisation'), 'area_m2') ?? 0) } })),
          })
        : null,
      tables: [
        {
          caption: `Flux par ${axisName}`,
          head: [axis === 'cs' ? 'Couverture' : 'Usage', 'Artificialisation', 'Désartificialisation'],
          rows: codes.map((code) => [codeWithLabel(code), cell(code, 'artificialisation'), cell(code, 'desartificialisation')]),
        },
      ],
    });
  }

  // ENAF consumption by destination.
  const enafRows = data.enafConsumption.get(key) ?? [];
  const enafSummaries = data.enafSummary.get(key) ?? [];
  const enafFull = longest(enafSummaries, yearSpan);
  const enafPeriods = enafSummaries;
  const destinationRow = (period: Row, d: string): Row | undefined => enafRows.find((r) => r.from_vintage === period.from_vintage && r.to_vintage === period.to_vintage && r.destination === d);
  sections.push({
    id: 'enaf',
    title: 'Consommation d’espaces naturels, agricoles et forestiers (ENAF)',
    paragraphs: ['Mesurée à partir de l’OCS : surfaces NAF au premier millésime devenues urbanisées au second, par destination. Ce n’est pas le chiffre officiel du Cerema (fichiers fonciers).'],
    chart: enafFull
      ? groupedBars({
          id: 'chart-enaf',
          title: `Consommation d’ENAF par destination (${periodLabel(data, key, enafFull)}), ${t.name}`,
          desc: `Barres par destination : consommation d’ENAF en hectares sur ${periodLabel(data, key, enafFull)}.`,
          axisLabel: 'Surface (ha)',
          series: [{ key: 'c', label: 'Consommation d’ENAF', color: '#b35806' }],
          groups: DESTINATIONS.map((d) => ({ label: DESTINATION_LABELS[d]!, values: { c: ha(num(destinationRow(enafFull, d), 'area_m2')) } })),
        })
      : null,
    tables: [
      {
        caption: 'Consommation d’ENAF par destination',
        head: ['Destination', ...enafPeriods.flatMap((r) => [`${periodLabel(data, key, r)}`, `${periodLabel(data, key, r)} par an`])],
        rows: DESTINATIONS.map((d) => [
          DESTINATION_LABELS[d]!,
          ...enafPeriods.flatMap((r) => {
            const f = { ...periodFilters(r), destination: d };
            const row = destinationRow(r, d);
            return [fig('enaf_consumption', 'area_m2', row, f), fig('enaf_consumption', 'area_m2_per_year', row, f)];
          }),
        ]),
      },
      {
        caption: 'Bilan ENAF',
        head: ['Période', 'Consommation', 'Par an', 'Part de la surface', 'Renaturation'],
        rows: enafSummaries.map((r) => {
          const f = periodFilters(r);
          return [periodLabel(data, key, r), fig('enaf_summary', 'consumption_m2', r, f), fig('enaf_summary', 'consumption_m2_per_year', r, f), fig('enaf_summary', 'consumption_share_of_area', r, f), fig('enaf_summary', 'renaturation_m2', r, f)];
        }),
      },
    ],
  });

  // Trajectory 2021–2030 and the comparison of OCS with Cerema.
  const tr = data.trajectory.get(key);
  const annual = data.ceremaAnnual.get(key) ?? [];
  const comparison = data.comparison.get(key) ?? [];
  const status = tr ? String(tr.status) : null;
  const perYear = (m2: number | null): number | null => (m2 === null ? null : m2 / 10 / 10_000);
  sections.push({
    id: 'trajectoire',
    title: 'Trajectoire 2021–2030 (loi Climat et résilience)',
    paragraphs: [
      'Enveloppe 2021–2030 : la consommation de la décennie de référence 2011–2020 réduite de l’objectif du territoire (50 % par défaut) ; garantie communale d’un hectare pour les communes couvertes par un document d’urbanisme éligible (loi 2023-630), jamais additionnée aux niveaux supérieurs.',
      ...(tr
        ? [
            tr.source === 'cerema'
              ? 'Source : fichiers fonciers traités par le Cerema (référence légale).'
              : 'Source : estimation à partir de l’occupation du sol (OCS), faute de fichier Cerema ; ce n’est pas le chiffre officiel.',
            `Statut : ${TRAJECTORY_STATUS_LABELS[status!] ?? status}${tr.status_reason ? ` (${String(tr.status_reason)})` : ''}.`,
          ]
        : []),
    ],
    chart: tr
      ? trajectoryChart({
          id: 'chart-trajectoire',
          title: `Consommation annuelle d’ENAF et enveloppe 2021–2030, ${t.name}`,
          desc: `Consommation annuelle (Cerema) de ${annual.length} années ; moyenne 2011–2020 ${formatNumber(perYear(num(tr, 'reference_2011_2020_m2')))} ha/an, enveloppe 2021–2030 ${formatNumber(perYear(num(tr, 'allowance_2021_2030_m2')))} ha/an.`,
          annual: annual.map((r) => ({ year: Number(r.year), ha: (num(r, 'area_m2') ?? 0) / 10_000 })),
          referencePerYearHa: perYear(num(tr, 'reference_2011_2020_m2')),
          allowancePerYearHa: perYear(num(tr, 'allowance_2021_2030_m2')),
        })
      : null,
    tables: [
      ...(tr
        ? [
            {
              caption: 'Trajectoire',
              head: ['Indicateur', 'Valeur'],
              rows: [
                ['Consommation 2011–2020', fig('trajectory', 'reference_2011_2020_m2', tr)],
                ['Objectif de réduction', fig('trajectory', 'reduction_target', tr)],
                ['Enveloppe 2021–2030', fig('trajectory', 'allowance_2021_2030_m2', tr)],
                ['Garantie communale appliquée', fig('trajectory', 'guarantee_applied', tr)],
                [`Consommé depuis 2021${tr.consumed_through_year === null ? '' : ` (jusqu’à fin ${String(tr.consumed_through_year)})`}`, fig('trajectory', 'consumed_since_2021_m2', tr)],
                ['Reste à consommer', fig('trajectory', 'remaining_m2', tr)],
                ['Estimation 2021–2030 (au rythme moyen depuis 2021)', fig('trajectory', 'estimated_2021_2030_m2', tr)],
                ['Statut', TRAJECTORY_STATUS_LABELS[status!] ?? status!],
              ] as Cell[][],
            },
          ]
        : []),
      ...(comparison.length > 0
        ? [
            {
              caption: 'Consommation d’ENAF : OCS et Cerema sur les mêmes années',
              head: ['Période', 'OCS', 'Cerema', 'Écart OCS − Cerema'],
              rows: comparison.map((r) => {
                const f = periodFilters(r);
                return [periodLabel(data, key, r), fig('consumption_comparison', 'ocs_consumption_m2', r, f), fig('consumption_comparison', 'cerema_consumption_m2', r, f), fig('consumption_comparison', 'difference_m2', r, f)];
              }),
            },
          ]
        : []),
    ],
  });

  // Map.
  const members = mapMembers(data, ctx, t);
  const mapRows = members.map((m) => {
    const mk = territoryKey(m.level, m.code);
    return { m, full: longest(data.artifFlux.get(mk), rankSpan) };
  });
  const features: MapFeature[] = mapRows.map(({ m, full: f }) => ({
    label: `${m.name} (${m.code}) : ${formatFigure('share', num(f, 'net_share_of_area'))}`,
    rings: ctx.rings(territoryKey(m.level, m.code)),
    value: num(f, 'net_share_of_area'),
    highlight: m.level === t.level && m.code === t.code,
    ...(ctx.published.has(territoryKey(m.level, m.code)) ? { href: `${portraitFile(m.level, m.code)}.html` } : {}),
  }));
  const ownRings = ctx.rings(key);
  const hasGeometry = features.some((f) => f.rings.length > 0) || ownRings.length > 0;
  const childName = members[0] && members[0].level !== t.level ? LEVEL_NOUNS[members[0].level][1] : 'communes voisines';
  sections.push({
    id: 'carte',
    title: `Carte : artificialisation nette par ${t.level === 'commune' ? 'commune (la commune et ses voisines)' : LEVEL_NOUNS[members[0]?.level ?? 'commune'][0]}`,
    paragraphs: ['Part de la surface artificialisée nette sur la plus longue période ; contour noir : le territoire du portrait.'],
    chart: hasGeometry
      ? choroplethMap({
          id: 'chart-carte',
          title: `Carte de l’artificialisation nette, ${t.name} et ${childName}`,
          desc: `${members.length} territoires colorés par part de la surface artificialisée nette ; contour épais : ${t.name}.`,
          features,
          outline: t.level === 'commune' ? [] : ownRings,
          breaks: MAP_BREAKS,
          colors: MAP_COLORS,
          classLabels: MAP_CLASS_LABELS,
        })
      : null,
    tables: [
      {
        caption: 'Territoires de la carte',
        head: ['Territoire', 'Période', 'Solde net', 'Solde net / surface'],
        rows: mapRows.map(({ m, full: f }) => {
          const filters = { level: m.level, code: m.code, ...(f ? periodFilters(f) : {}) };
          return [link(data, ctx, m.level, m.code), f ? periodLabel(data, territoryKey(m.level, m.code), f) : '—', fig('artif_flux', 'net_m2', f, filters), fig('artif_flux', 'net_share_of_area', f, filters)];
        }),
      },
    ],
  });

  // Methods.
  sections.push({
    id: 'methode',
    title: 'Méthode',
    paragraphs: [
      `Nomenclature : ${data.metadata.get('nomenclature_version') ?? 'non renseignée'} ; catégories du décret 2023-1096 (annexe à l’article R.101-1 du code de l’urbanisme).`,
      `Millésimes utilisés : ${t.vintages || '—'}. Surfaces planimétriques en Lambert-93 (EPSG:2154) ; niveaux supérieurs = sommes des communes.`,
      ...(data.metadata.has('vintage_years')
        ? [`Les millésimes sont des étiquettes : durées et valeurs annuelles sont calculées sur les années réelles des photos aériennes de chaque commune (table ${(JSON.parse(data.metadata.get('vintage_years')!) as { table: string }).table}, run_metadata vintage_years).`]
        : []),
      `La consommation d’ENAF est mesurée ici à partir de l’occupation du sol (OCS), non à partir des fichiers fonciers : ce n’est pas le chiffre officiel du Cerema. ${tr?.measure ? `(${tr.measure})` : ''}`.trim(),
      ...ignCheckParagraph(data.ignCheck.get(key) ?? []),
      `Généré par ocs-zan ${data.metadata.get('tool_version') ?? ''}.`.trim(),
    ],
    chart: null,
    tables: [],
  });

  return { territory: t, file: portraitFile(t.level, t.code), title: `${levelName} : ${t.name}`, identity, sections };
}

const IGN_MEASURES: Record<string, string> = {
  artificialisation: 'artificialisation',
  desartificialisation: 'désartificialisation',
  cs_us_change: 'changements de couverture ou d’usage',
};

/** The IGN cross-check in the methods note: its largest gap (rows come largest first), or that we agree. */
function ignCheckParagraph(rows: Row[]): string[] {
  const largest = rows[0];
  if (!largest) return [];
  const intro = `Contrôle croisé avec les couches de différence de l’IGN (DIFF, zan_evol ; table check_ign_difference, jamais utilisées comme données) : ${rows.length} comparaisons`;
  const gap = num(largest, 'diff_m2') ?? 0;
  if (Math.abs(gap) < 0.01) return [`${intro}, toutes identiques au cm² près.`];
  return [
    `${intro} ; plus grand écart : ${IGN_MEASURES[String(largest.measure)] ?? String(largest.measure)} ${String(largest.period)}, ` +
      `${formatNumber(gap)} m² (ici ${formatNumber(num(largest, 'ours_m2'))} m², IGN ${formatNumber(num(largest, 'ign_m2'))} m²).`,
  ];
}
