-- v_enaf_ha: enaf_summary in hectares and hectares per year, with the territory name (measured from OCS).

CREATE OR REPLACE VIEW v_enaf_ha AS
SELECT e.level, e.code, t.name, e.from_vintage, e.to_vintage, e.from_rank, e.to_rank,
       e.consumption_m2 / 1e4 AS consumption_ha, e.renaturation_m2 / 1e4 AS renaturation_ha,
       e.consumption_m2_per_year / 1e4 AS consumption_ha_per_year, e.consumption_share_of_area, e.years
FROM enaf_summary e JOIN territory t USING (level, code);
