-- Stock per commune and vintage.
-- _cs: area per commune, vintage and category with its artificialised and sealed flags.
-- _trank: per territory and rank, the latest label combined at that rank and the labels with their départements, and
--   their real years when they differ (2010 = 2007 (67); 2010 (57)).

CREATE OR REPLACE TEMP TABLE _cs AS
SELECT p.commune_code, c.vintage, v.rank, c.category, bool_or(c.artificialised) AS artificialised,
       bool_or(c.sealed) AS sealed, xsum(p.area_m2) AS area_m2
FROM piece_class c JOIN piece p USING (piece_id) JOIN _cv v ON v.commune_code = p.commune_code AND v.vintage = c.vintage
GROUP BY p.commune_code, c.vintage, v.rank, c.category, c.artificialised, c.sealed;

CREATE OR REPLACE TEMP TABLE _trank AS
WITH y AS (
  SELECT m.level, m.code, v.rank, v.vintage, v.year, string_agg(DISTINCT c.departement, ', ' ORDER BY c.departement) AS deps
  FROM _cv v JOIN membership m USING (commune_code) JOIN _commune c USING (commune_code) GROUP BY ALL)
SELECT level, code, rank, max(vintage) AS vintage,
       string_agg(format('{} ({})', vintage_text(vintage, year), deps), '; ' ORDER BY vintage, year) AS years_combined
FROM y GROUP BY ALL;
