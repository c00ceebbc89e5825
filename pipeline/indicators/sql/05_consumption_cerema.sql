-- consumption_cerema: NAF consumption measured by Cerema from the land-tax files (the legal reference), per
-- territory, year and destination, in m². An input table: loaded per commune from --cerema into _cerema_in
-- (pipeline/cerema/: annual columns only), then every level is the sum of its communes through membership.
-- year = first year of the flux: naf11art12 (1 Jan 2011 → 1 Jan 2012) is 2011. destination 'total' is the
-- nafYYartZZ column; the others are its breakdown (route and ferroviaire only in releases that have them).
-- Communes missing from the file add nothing (run_metadata `cerema` counts them). Empty without --cerema.

CREATE OR REPLACE TABLE consumption_cerema AS
SELECT m.level, m.code, c.year, c.destination, xsum(c.area_m2) AS area_m2
FROM _cerema_in c JOIN membership m USING (commune_code)
GROUP BY ALL
ORDER BY level, code, year, destination;
