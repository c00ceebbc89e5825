-- Per commune: its vintages ranked 1..n (départements can have different years), and its area and département.
-- _cv(commune_code, vintage, year, rank, n): vintage = the nominal label, year = the real year behind it (from
--   _vintage_year, written by the stage from the --vintage-years table; the label itself without one), ranked by label;
--   n = how many vintages cover the commune.
-- _commune(commune_code, area_m2, departement): departement '?' when the membership has none.

CREATE OR REPLACE TEMP TABLE _cv AS
SELECT commune_code, vintage, year,
       dense_rank() OVER (PARTITION BY commune_code ORDER BY vintage)::INTEGER AS rank,
       count(*) OVER (PARTITION BY commune_code)::INTEGER AS n
FROM _vintage_year;

CREATE OR REPLACE TEMP TABLE _commune AS
SELECT t.code AS commune_code, t.area_m2,
       coalesce((SELECT min(m.code) FROM membership m WHERE m.commune_code = t.code AND m.level = 'departement'), '?') AS departement
FROM territory t WHERE t.level = 'commune';
