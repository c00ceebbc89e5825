-- transition: area moving from each décret category to each other one per territory and period, unchanged area
-- included (from_category = to_category), so every period's rows add up to the area covered at both ends.

CREATE OR REPLACE TABLE transition AS
SELECT tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank AS from_rank, tp.t_to_rank AS to_rank,
       c.from_category, c.to_category, xsum(c.area_m2) AS area_m2
FROM _tpc t JOIN _chg c USING (commune_code, from_vintage, to_vintage)
JOIN _tp tp ON tp.level = t.level AND tp.code = t.code AND tp.t_from_rank = t.t_from_rank AND tp.t_to_rank = t.t_to_rank
GROUP BY ALL ORDER BY ALL;
