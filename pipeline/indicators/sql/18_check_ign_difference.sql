-- check_ign_difference: our changes against IGN's own difference products (--ocsge), never used as data.
-- _ign_commune (loaded by ign-difference.ts; empty without difference products) holds, per commune of the
-- département, IGN's area for one period and measure: its DIFF polygons (cs_us_change) or its zan_evol polygons with
-- artificialisation = 1 (artificialisation) or −1 (desartificialisation), cut by the commune. Ours is the area of the
-- pieces with the same change between the same two vintages. Communes sum up through membership, per period.
-- Areas are rounded to cm², so that identical geometry computed in a different order compares equal.

CREATE TEMP TABLE IF NOT EXISTS _ign_commune (commune_code VARCHAR, from_vintage INTEGER, to_vintage INTEGER, measure VARCHAR, ign_m2 DOUBLE);

CREATE OR REPLACE TABLE check_ign_difference AS
WITH ours AS (
  SELECT g.commune_code, g.from_vintage, g.to_vintage, g.measure,
         xsum(CASE WHEN (g.measure = 'artificialisation' AND b.artificialised AND NOT a.artificialised)
                     OR (g.measure = 'desartificialisation' AND a.artificialised AND NOT b.artificialised)
                     OR (g.measure = 'cs_us_change' AND (a.code_cs <> b.code_cs OR a.code_us <> b.code_us))
                   THEN p.area_m2 ELSE 0 END) AS ours_m2
  FROM (SELECT DISTINCT commune_code, from_vintage, to_vintage, measure FROM _ign_commune) g
  LEFT JOIN piece p ON p.commune_code = g.commune_code
  LEFT JOIN piece_class a ON a.piece_id = p.piece_id AND a.vintage = g.from_vintage
  LEFT JOIN piece_class b ON b.piece_id = p.piece_id AND b.vintage = g.to_vintage
  GROUP BY ALL),
c AS (
  SELECT i.commune_code, i.from_vintage, i.to_vintage, i.measure, i.ign_m2, coalesce(o.ours_m2, 0) AS ours_m2
  FROM _ign_commune i LEFT JOIN ours o USING (commune_code, from_vintage, to_vintage, measure))
SELECT m.level, m.code, format('{}-{}', c.from_vintage, c.to_vintage) AS period, c.measure,
       round(xsum(c.ours_m2), 2) AS ours_m2, round(xsum(c.ign_m2), 2) AS ign_m2,
       round(round(xsum(c.ours_m2), 2) - round(xsum(c.ign_m2), 2), 2) AS diff_m2
FROM c JOIN membership m USING (commune_code)
GROUP BY ALL ORDER BY m.level, m.code, period, c.measure;

DROP TABLE _ign_commune;
