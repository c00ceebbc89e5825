-- Periods, per commune and per territory.
-- _cp: each commune's consecutive periods (rank k → k+1), plus first → last when the commune has 3 vintages or more;
--   from_vintage/to_vintage are the nominal labels, from_year/to_year the real years: what a period covers in time is
--   from_year → to_year, and its length to_year − from_year.
-- _tl: last rank of each territory (its communes' largest vintage count).
-- _tpc: which territory period each commune period feeds. Territories combine communes by vintage rank, so a
--   territory period (from_rank → to_rank) gathers every member commune's period of those ranks, whatever its years.
-- _tp: one row per territory period: the earliest and latest labels combined, the length in real years (mean of the
--   communes' lengths weighted by commune area) and years_combined, which spells each commune period with its
--   départements, and its real years when they differ from the labels (2010→2019 = 2007→2018 (67)).

CREATE OR REPLACE TEMP TABLE _cp AS
SELECT a.commune_code, 'consecutive' AS kind, a.vintage AS from_vintage, b.vintage AS to_vintage, a.rank AS from_rank, b.rank AS to_rank,
       a.year AS from_year, b.year AS to_year
FROM _cv a JOIN _cv b ON a.commune_code = b.commune_code AND b.rank = a.rank + 1
UNION ALL
SELECT a.commune_code, 'first_last', a.vintage, b.vintage, 1, b.rank, a.year, b.year
FROM _cv a JOIN _cv b ON a.commune_code = b.commune_code AND a.rank = 1 AND b.rank = b.n AND b.n >= 2;

CREATE OR REPLACE TEMP TABLE _tl AS
SELECT m.level, m.code, max(v.n)::INTEGER AS last_rank
FROM membership m JOIN (SELECT DISTINCT commune_code, n FROM _cv) v USING (commune_code) GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE _tpc AS
SELECT m.level, m.code,
       CASE WHEN p.kind = 'consecutive' THEN p.from_rank ELSE 1 END AS t_from_rank,
       CASE WHEN p.kind = 'consecutive' THEN p.to_rank ELSE l.last_rank END AS t_to_rank,
       p.commune_code, p.from_vintage, p.to_vintage, p.from_year, p.to_year, (p.to_year - p.from_year)::DOUBLE AS years
FROM _cp p JOIN membership m USING (commune_code) JOIN _tl l ON l.level = m.level AND l.code = m.code
WHERE p.kind = 'consecutive' OR l.last_rank > 2;

CREATE OR REPLACE TEMP TABLE _tp AS
WITH pairs AS (
  SELECT t.level, t.code, t.t_from_rank, t.t_to_rank, t.from_vintage, t.to_vintage, t.from_year, t.to_year,
         string_agg(DISTINCT c.departement, ', ' ORDER BY c.departement) AS deps,
         xsum(t.years * c.area_m2) AS weighted, xsum(c.area_m2) AS area
  FROM _tpc t JOIN _commune c USING (commune_code) GROUP BY ALL)
SELECT level, code, t_from_rank, t_to_rank, min(from_vintage) AS from_vintage, max(to_vintage) AS to_vintage,
       -- Rounded to 1e-6 year so that equal lengths give exactly that length (9, not 9.000000000000652).
       round(xsum(weighted) / nullif(xsum(area), 0), 6) AS years,
       string_agg(format('{} ({})', period_text(from_vintage, to_vintage, from_year, to_year), deps), '; '
                  ORDER BY from_vintage, to_vintage, from_year, to_year) AS years_combined
FROM pairs GROUP BY ALL;
