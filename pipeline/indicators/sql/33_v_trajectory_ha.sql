-- v_trajectory_ha: trajectory in hectares, with the territory name.

CREATE OR REPLACE VIEW v_trajectory_ha AS
SELECT j.level, j.code, t.name, j.source, j.reference_2011_2020_m2 / 1e4 AS reference_2011_2020_ha, j.reduction_target,
       j.allowance_2021_2030_m2 / 1e4 AS allowance_2021_2030_ha, j.guarantee_applied,
       j.consumed_since_2021_m2 / 1e4 AS consumed_since_2021_ha, j.consumed_through_year, j.remaining_m2 / 1e4 AS remaining_ha,
       j.estimated_2021_2030_m2 / 1e4 AS estimated_2021_2030_ha, j.status, j.status_reason
FROM trajectory j JOIN territory t USING (level, code);
