-- imperm_flux: imperméabilisation (categories 1 and 2, the sealed flag) gained and lost per territory and period,
-- summed from the commune totals of _cm; net_m2_per_year annualises each commune on its own period length.

CREATE OR REPLACE TABLE imperm_flux AS
SELECT tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank AS from_rank, tp.t_to_rank AS to_rank,
       xsum(cm.imperm) AS impermeabilisation_m2, xsum(cm.desimperm) AS desimpermeabilisation_m2,
       xsum(cm.imperm - cm.desimperm) AS net_m2, tp.years,
       xsum((cm.imperm - cm.desimperm) / t.years) AS net_m2_per_year
FROM _tpc t JOIN _cm cm USING (commune_code, from_vintage, to_vintage)
JOIN _tp tp ON tp.level = t.level AND tp.code = t.code AND tp.t_from_rank = t.t_from_rank AND tp.t_to_rank = t.t_to_rank
GROUP BY tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank, tp.t_to_rank, tp.years
ORDER BY tp.level, tp.code, tp.t_from_rank, tp.t_to_rank;
