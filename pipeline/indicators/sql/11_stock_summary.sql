-- stock_summary: covered, artificialised and sealed area per territory and vintage rank.
-- uncovered_m2 = territory area − covered area (never negative); artificialised_share divides by the whole territory
-- area, covered or not.

CREATE OR REPLACE TABLE stock_summary AS
WITH s AS (
  SELECT m.level, m.code, s.rank, xsum(s.area_m2) AS covered_m2,
         xsum(CASE WHEN s.artificialised THEN s.area_m2 ELSE 0 END) AS artificialised_m2,
         xsum(CASE WHEN s.sealed THEN s.area_m2 ELSE 0 END) AS sealed_m2
  FROM _cs s JOIN membership m USING (commune_code) GROUP BY ALL)
SELECT r.level, r.code, r.vintage, r.rank AS vintage_rank, coalesce(s.covered_m2, 0) AS covered_m2,
       greatest(t.area_m2 - coalesce(s.covered_m2, 0), 0) AS uncovered_m2,
       coalesce(s.artificialised_m2, 0) AS artificialised_m2,
       coalesce(s.artificialised_m2, 0) / nullif(t.area_m2, 0) AS artificialised_share,
       coalesce(s.sealed_m2, 0) AS sealed_m2, r.years_combined
FROM _trank r JOIN territory t ON t.level = r.level AND t.code = r.code
LEFT JOIN s ON s.level = r.level AND s.code = r.code AND s.rank = r.rank
ORDER BY r.level, r.code, r.rank;
