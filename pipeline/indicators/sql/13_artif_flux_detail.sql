-- artif_flux_detail: the area that changed artificialised status, by couverture and usage before and after.
-- direction = artificialisation when the piece is artificialised at the end, désartificialisation otherwise.

CREATE OR REPLACE TABLE artif_flux_detail AS
SELECT tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank AS from_rank, tp.t_to_rank AS to_rank,
       CASE WHEN c.to_artif THEN 'artificialisation' ELSE 'desartificialisation' END AS direction,
       c.from_cs, c.to_cs, c.from_us, c.to_us, xsum(c.area_m2) AS area_m2
FROM _tpc t JOIN _chg c USING (commune_code, from_vintage, to_vintage)
JOIN _tp tp ON tp.level = t.level AND tp.code = t.code AND tp.t_from_rank = t.t_from_rank AND tp.t_to_rank = t.t_to_rank
WHERE c.from_artif <> c.to_artif
GROUP BY ALL ORDER BY ALL;
