-- v_artif_flux_ha: artif_flux in hectares and hectares per year, with the territory name.

CREATE OR REPLACE VIEW v_artif_flux_ha AS
SELECT f.level, f.code, t.name, f.from_vintage, f.to_vintage, f.from_rank, f.to_rank,
       f.artificialisation_m2 / 1e4 AS artificialisation_ha, f.desartificialisation_m2 / 1e4 AS desartificialisation_ha,
       f.net_m2 / 1e4 AS net_ha, f.years, f.artificialisation_m2_per_year / 1e4 AS artificialisation_ha_per_year,
       f.desartificialisation_m2_per_year / 1e4 AS desartificialisation_ha_per_year,
       f.net_m2_per_year / 1e4 AS net_ha_per_year, f.net_share_of_area, f.years_combined
FROM artif_flux f JOIN territory t USING (level, code);
