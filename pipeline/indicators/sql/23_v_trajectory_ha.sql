-- v_trajectory_ha: trajectory in hectares, with the territory name.

CREATE OR REPLACE VIEW v_trajectory_ha AS
SELECT j.level, j.code, t.name, j.reference_period, j.reference_rate_m2_per_year / 1e4 AS reference_ha_per_year,
       j.reference_2011_2020_m2 / 1e4 AS reference_2011_2020_ha, j.ceiling_2021_2031_m2 / 1e4 AS ceiling_2021_2031_ha,
       j.floor_applied_communes, j.observed_period, j.projection_2021_2031_m2 / 1e4 AS projection_2021_2031_ha,
       j.on_track, j.measure
FROM trajectory j JOIN territory t USING (level, code);
