-- v_territory_summary: one row per territory with its headline figures in hectares: stock at the last vintage,
-- net artificialisation and ENAF consumption over the longest period starting at the first vintage (first → last),
-- and the trajectory.

CREATE OR REPLACE VIEW v_territory_summary AS
WITH last AS (
  SELECT * FROM stock_summary QUALIFY row_number() OVER (PARTITION BY level, code ORDER BY vintage_rank DESC) = 1),
fl AS (
  SELECT * FROM artif_flux WHERE from_rank = 1 QUALIFY row_number() OVER (PARTITION BY level, code ORDER BY to_rank DESC) = 1),
en AS (
  SELECT * FROM enaf_summary WHERE from_rank = 1 QUALIFY row_number() OVER (PARTITION BY level, code ORDER BY to_rank DESC) = 1)
SELECT t.level, t.code, t.name, t.area_m2 / 1e4 AS area_ha, t.coverage_status, t.vintages,
       last.vintage AS last_vintage, last.artificialised_m2 / 1e4 AS artificialised_ha_last, last.artificialised_share AS artificialised_share_last,
       fl.from_vintage, fl.to_vintage, fl.net_m2 / 1e4 AS net_artificialisation_ha, fl.net_m2_per_year / 1e4 AS net_artificialisation_ha_per_year,
       en.consumption_m2 / 1e4 AS enaf_consumption_ha, en.consumption_m2_per_year / 1e4 AS enaf_consumption_ha_per_year,
       j.allowance_2021_2030_m2 / 1e4 AS allowance_2021_2030_ha, j.consumed_since_2021_m2 / 1e4 AS consumed_since_2021_ha,
       j.remaining_m2 / 1e4 AS remaining_ha, j.status AS trajectory_status
FROM territory t LEFT JOIN last USING (level, code) LEFT JOIN fl USING (level, code)
LEFT JOIN en USING (level, code) LEFT JOIN trajectory j USING (level, code);
