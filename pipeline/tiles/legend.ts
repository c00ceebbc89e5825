/**
 * Décret 2023-1096 legend for the tiles and the viewer: one colour per category. Labels come from the
 * DuckDB `nomenclature_category` table when the run wrote it; these short labels are the fallback.
 */

export interface LegendEntry {
  category: number;
  label: string;
  artificialised: boolean;
  colour: string;
}

// Warm colours for the five artificialised categories, blues/greens/yellows for the others.
const DEFAULTS: LegendEntry[] = [
  { category: 1, label: 'Surfaces bâties', artificialised: true, colour: '#b2182b' },
  { category: 2, label: 'Surfaces imperméabilisées (revêtement)', artificialised: true, colour: '#e34a33' },
  { category: 3, label: 'Surfaces stabilisées, minérales ou composites', artificialised: true, colour: '#fc8d59' },
  { category: 4, label: "Surfaces herbacées à usage résidentiel, de production ou d'infrastructure", artificialised: true, colour: '#fdcc8a' },
  { category: 5, label: 'Surfaces des catégories 1 à 4 en chantier ou abandonnées', artificialised: true, colour: '#c51b7d' },
  { category: 6, label: 'Surfaces naturelles nues ou en eau', artificialised: false, colour: '#4575b4' },
  { category: 7, label: 'Surfaces à usage de cultures', artificialised: false, colour: '#f7f4b9' },
  { category: 8, label: 'Surfaces à usage sylvicole', artificialised: false, colour: '#1b7837' },
  { category: 9, label: 'Surfaces végétalisées constituant un habitat naturel', artificialised: false, colour: '#7fbc41' },
  { category: 10, label: 'Autres surfaces végétalisées', artificialised: false, colour: '#c2e699' },
];

/** The ten categories, with labels (and artificialised flags) overridden by the run's own table when given. */
export function buildLegend(fromDb: Array<{ category: number; label: string; artificialised: boolean }> = []): LegendEntry[] {
  const byCategory = new Map(fromDb.map((row) => [row.category, row]));
  return DEFAULTS.map((entry) => {
    const row = byCategory.get(entry.category);
    return row ? { ...entry, label: row.label, artificialised: row.artificialised } : entry;
  });
}
