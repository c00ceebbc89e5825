-- v_stock_ha: stock in hectares with the category label and its share of the territory area.

CREATE OR REPLACE VIEW v_stock_ha AS
SELECT s.level, s.code, t.name, s.vintage, s.vintage_rank, s.category, n.label,
       s.area_m2 / 1e4 AS area_ha, s.area_m2 / nullif(t.area_m2, 0) AS share_of_area
FROM stock s JOIN territory t USING (level, code) LEFT JOIN nomenclature_category n USING (category);
