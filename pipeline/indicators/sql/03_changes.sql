-- Land-use change per commune period.
-- _chg: area of each distinct class pair (start class, end class) of every piece, per commune period; only pieces
--   covered at both ends count (a piece with no class at a vintage had no data there). rule_mix: one end's
--   artificialised flag came from IGN's artif field (official) and the other's from the matrix or its thresholds.
-- _cm: the commune totals per period: artificialisation (not artificialised → artificialised), désartificialisation
--   (the reverse), imperméabilisation gained and lost (sealed flag), ENAF consumption (naf → urban) and renaturation
--   (urban → naf); zero when nothing changed.

CREATE OR REPLACE TEMP TABLE _chg AS
SELECT pc.commune_code, p.from_vintage, p.to_vintage,
       a.category AS from_category, b.category AS to_category,
       a.artificialised AS from_artif, b.artificialised AS to_artif,
       a.sealed AS from_sealed, b.sealed AS to_sealed, a.enaf AS from_enaf, b.enaf AS to_enaf,
       coalesce(b.destination, 'inconnu') AS to_destination,
       a.code_cs AS from_cs, b.code_cs AS to_cs, a.code_us AS from_us, b.code_us AS to_us,
       a.artif_rule <> 'unclassified' AND b.artif_rule <> 'unclassified' AND (a.artif_rule = 'official') <> (b.artif_rule = 'official') AS rule_mix,
       xsum(pc.area_m2) AS area_m2
FROM (SELECT DISTINCT commune_code, from_vintage, to_vintage FROM _cp) p
JOIN piece pc ON pc.commune_code = p.commune_code
JOIN piece_class a ON a.piece_id = pc.piece_id AND a.vintage = p.from_vintage
JOIN piece_class b ON b.piece_id = pc.piece_id AND b.vintage = p.to_vintage
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE _cm AS
SELECT p.commune_code, p.from_vintage, p.to_vintage,
       xsum(CASE WHEN c.to_artif AND NOT c.from_artif THEN c.area_m2 ELSE 0 END) AS artif,
       xsum(CASE WHEN c.from_artif AND NOT c.to_artif THEN c.area_m2 ELSE 0 END) AS desartif,
       xsum(CASE WHEN c.to_sealed AND NOT c.from_sealed THEN c.area_m2 ELSE 0 END) AS imperm,
       xsum(CASE WHEN c.from_sealed AND NOT c.to_sealed THEN c.area_m2 ELSE 0 END) AS desimperm,
       xsum(CASE WHEN c.from_enaf = 'naf' AND c.to_enaf = 'urban' THEN c.area_m2 ELSE 0 END) AS consumption,
       xsum(CASE WHEN c.from_enaf = 'urban' AND c.to_enaf = 'naf' THEN c.area_m2 ELSE 0 END) AS renaturation,
       coalesce(bool_or(c.rule_mix), false) AS rule_mix
FROM (SELECT DISTINCT commune_code, from_vintage, to_vintage FROM _cp) p
LEFT JOIN _chg c USING (commune_code, from_vintage, to_vintage) GROUP BY ALL;
