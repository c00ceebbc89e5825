-- stock: area of each décret 2023-1096 category per territory and vintage rank.
-- Communes' category areas summed through membership; a territory's vintage k is every member commune's k-th vintage.

CREATE OR REPLACE TABLE stock AS
SELECT m.level, m.code, r.vintage, s.rank AS vintage_rank, s.category, xsum(s.area_m2) AS area_m2
FROM _cs s JOIN membership m USING (commune_code) JOIN _trank r ON r.level = m.level AND r.code = m.code AND r.rank = s.rank
GROUP BY ALL ORDER BY m.level, m.code, s.rank, s.category;
