-- territory.coverage_status and territory.vintages, from the communes' vintages and the uncovered area per rank:
-- no_data (no commune with data), partial (a commune without data, or more than getvariable('partial_threshold') of
-- the area uncovered at some rank), complete_mixed (communes with different vintage years), complete_uniform.

CREATE OR REPLACE TEMP TABLE _coverage AS
WITH cy AS (
  SELECT c.commune_code, c.departement, string_agg(v.vintage::VARCHAR, ', ' ORDER BY v.vintage) AS years
  FROM _commune c LEFT JOIN _cv v USING (commune_code) GROUP BY ALL),
per AS (
  SELECT m.level, m.code, count(*) AS communes, count(cy.years) AS with_data, count(DISTINCT cy.years) AS year_sets
  FROM membership m JOIN cy USING (commune_code) GROUP BY ALL),
txt AS (
  SELECT level, code, years, string_agg(DISTINCT departement, ', ' ORDER BY departement) AS deps
  FROM membership m JOIN cy USING (commune_code) WHERE years IS NOT NULL GROUP BY ALL),
unc AS (
  SELECT level, code, max(uncovered_m2) AS uncovered_m2 FROM stock_summary GROUP BY ALL)
SELECT per.level, per.code,
       CASE WHEN per.with_data = 0 THEN 'no_data'
            WHEN per.with_data < per.communes OR coalesce(unc.uncovered_m2, 0) > getvariable('partial_threshold') * t.area_m2 THEN 'partial'
            WHEN per.year_sets > 1 THEN 'complete_mixed'
            ELSE 'complete_uniform' END AS coverage_status,
       CASE WHEN per.year_sets <= 1 THEN (SELECT min(years) FROM txt WHERE txt.level = per.level AND txt.code = per.code)
            ELSE (SELECT string_agg(format('{} ({})', years, deps), '; ' ORDER BY years) FROM txt
                  WHERE txt.level = per.level AND txt.code = per.code) END AS vintages
FROM per JOIN territory t USING (level, code) LEFT JOIN unc USING (level, code);

UPDATE territory SET coverage_status = c.coverage_status, vintages = coalesce(c.vintages, '')
FROM _coverage c WHERE c.level = territory.level AND c.code = territory.code;
