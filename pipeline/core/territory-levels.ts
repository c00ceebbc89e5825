/** Territory levels from the commune up; every level above the commune is a sum of whole communes. */
export const TERRITORY_LEVELS = ['commune', 'epci', 'scot', 'departement', 'region'] as const;
export type TerritoryLevel = (typeof TERRITORY_LEVELS)[number];

/** The same levels from the région down, the order portraits and their index list territories in. */
export const TERRITORY_LEVELS_TOP_DOWN: readonly TerritoryLevel[] = [...TERRITORY_LEVELS].reverse();
