-- enaf_consumption: ENAF consumption measured from OCS, by destination.
-- Area NAF at the start and urbanised at the end, grouped by the destination at the end ('inconnu' when none).
-- Regional practice, not the official Cerema land-tax figure.

CREATE OR REPLACE TABLE enaf_consumption AS
SELECT tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank AS from_rank, tp.t_to_rank AS to_rank,
       c.to_destination AS destination, xsum(c.area_m2) AS area_m2, xsum(c.area_m2 / t.years) AS area_m2_per_year, tp.years
FROM _tpc t JOIN _chg c USING (commune_code, from_vintage, to_vintage)
JOIN _tp tp ON tp.level = t.level AND tp.code = t.code AND tp.t_from_rank = t.t_from_rank AND tp.t_to_rank = t.t_to_rank
WHERE c.from_enaf = 'naf' AND c.to_enaf = 'urban'
GROUP BY tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank, tp.t_to_rank, c.to_destination, tp.years
ORDER BY tp.level, tp.code, tp.t_from_rank, tp.t_to_rank, c.to_destination;
