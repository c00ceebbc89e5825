-- enaf_summary: ENAF consumption (naf → urban) and renaturation (urban → naf) per territory and period, measured
-- from OCS, with per-year rates annualised per commune and the consumption as a share of the territory area.

CREATE OR REPLACE TABLE enaf_summary AS
SELECT tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank AS from_rank, tp.t_to_rank AS to_rank,
       xsum(cm.consumption) AS consumption_m2, xsum(cm.renaturation) AS renaturation_m2,
       xsum(cm.consumption / t.years) AS consumption_m2_per_year,
       xsum(cm.renaturation / t.years) AS renaturation_m2_per_year,
       xsum(cm.consumption) / nullif(any_value(ter.area_m2), 0) AS consumption_share_of_area, tp.years
FROM _tpc t JOIN _cm cm USING (commune_code, from_vintage, to_vintage)
JOIN _tp tp ON tp.level = t.level AND tp.code = t.code AND tp.t_from_rank = t.t_from_rank AND tp.t_to_rank = t.t_to_rank
JOIN territory ter ON ter.level = t.level AND ter.code = t.code
GROUP BY tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank, tp.t_to_rank, tp.years
ORDER BY tp.level, tp.code, tp.t_from_rank, tp.t_to_rank;
