-- consumption_comparison: ENAF consumption measured from OCS next to Cerema's land-tax figure over the same years,
-- per territory and OCS period (only with --cerema). For each commune period, Cerema counts the years from_year …
-- to_year − 1 (the period's real years, the labels without --vintage-years; a vintage is taken as of 1 January), so
-- mixed vintages compare each commune on its own years.
-- cerema_consumption_m2 is NULL unless every commune of the period is in the file with all of those years.

CREATE OR REPLACE TABLE consumption_comparison AS
WITH per_commune AS (
  SELECT t.level, t.code, t.t_from_rank, t.t_to_rank, t.commune_code, t.from_year, t.to_year,
         xsum(c.area_m2) AS cerema, count(c.year) AS years
  FROM _tpc t
  LEFT JOIN _cerema_in c ON c.commune_code = t.commune_code AND c.destination = 'total'
                        AND c.year >= t.from_year AND c.year < t.to_year
  GROUP BY ALL)
SELECT e.level, e.code, e.from_vintage, e.to_vintage, e.from_rank, e.to_rank, e.consumption_m2 AS ocs_consumption_m2,
       CASE WHEN bool_and(p.years = p.to_year - p.from_year) THEN xsum(p.cerema) END AS cerema_consumption_m2,
       CASE WHEN bool_and(p.years = p.to_year - p.from_year) THEN e.consumption_m2 - xsum(p.cerema) END AS difference_m2
FROM enaf_summary e
JOIN per_commune p ON p.level = e.level AND p.code = e.code AND p.t_from_rank = e.from_rank AND p.t_to_rank = e.to_rank
WHERE getvariable('cerema_given')
GROUP BY e.level, e.code, e.from_vintage, e.to_vintage, e.from_rank, e.to_rank, e.consumption_m2
ORDER BY e.level, e.code, e.from_rank, e.to_rank;
