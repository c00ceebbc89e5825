-- artif_flux: artificialisation, désartificialisation and net artificialisation per territory and period.
-- Sums of the commune totals of _cm over the communes feeding the territory period. The *_per_year columns annualise
-- each commune on its own period length before summing, so communes with different vintage years add up correctly.
-- rule_mix flags a period where some commune compares a vintage decided by IGN's artif field with one decided by the
-- matrix (and its thresholds): part of the flux may then come from the change of method, not from the ground.

CREATE OR REPLACE TABLE artif_flux AS
SELECT tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank AS from_rank, tp.t_to_rank AS to_rank,
       xsum(cm.artif) AS artificialisation_m2, xsum(cm.desartif) AS desartificialisation_m2,
       xsum(cm.artif - cm.desartif) AS net_m2, tp.years,
       xsum(cm.artif / t.years) AS artificialisation_m2_per_year,
       xsum(cm.desartif / t.years) AS desartificialisation_m2_per_year,
       xsum((cm.artif - cm.desartif) / t.years) AS net_m2_per_year,
       xsum(cm.artif - cm.desartif) / nullif(any_value(ter.area_m2), 0) AS net_share_of_area,
       tp.years_combined, bool_or(cm.rule_mix) AS rule_mix
FROM _tpc t JOIN _cm cm USING (commune_code, from_vintage, to_vintage)
JOIN _tp tp ON tp.level = t.level AND tp.code = t.code AND tp.t_from_rank = t.t_from_rank AND tp.t_to_rank = t.t_to_rank
JOIN territory ter ON ter.level = t.level AND ter.code = t.code
GROUP BY tp.level, tp.code, tp.from_vintage, tp.to_vintage, tp.t_from_rank, tp.t_to_rank, tp.years, tp.years_combined
ORDER BY tp.level, tp.code, tp.t_from_rank, tp.t_to_rank;
