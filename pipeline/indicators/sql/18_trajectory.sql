-- trajectory: the ZAN 2021–2031 trajectory, measured from OCS.
-- Per commune, the reference rate is the ENAF consumption rate of the consecutive period overlapping the reference
-- decade (getvariable('reference_start') → getvariable('reference_end')) the most (ties: the earlier period); the
-- reference decade consumption is that rate × the decade length. The ceiling is max(reference × (1 − reduction),
-- commune floor); the projection is the rate of the period ending last × the target decade length.
-- Periods cover their real years (from_year → to_year, the labels without a --vintage-years table): the overlap and the
-- rates use them, and the period texts show them beside the labels when they differ.
-- Territories sum their communes' figures; communes with no period overlapping the decade are left out and counted.

CREATE OR REPLACE TEMP TABLE _ctraj AS
WITH p AS (
  SELECT cp.commune_code, cp.from_vintage, cp.to_vintage, cp.from_year, cp.to_year, cm.consumption / (cp.to_year - cp.from_year) AS rate,
         greatest(0, least(cp.to_year, getvariable('reference_end')) - greatest(cp.from_year, getvariable('reference_start'))) AS overlap
  FROM _cp cp JOIN _cm cm USING (commune_code, from_vintage, to_vintage) WHERE cp.kind = 'consecutive'),
ref AS (
  SELECT * FROM p WHERE overlap > 0
  QUALIFY row_number() OVER (PARTITION BY commune_code ORDER BY overlap DESC, from_vintage) = 1),
obs AS (
  SELECT * FROM p QUALIFY row_number() OVER (PARTITION BY commune_code ORDER BY to_vintage DESC, from_vintage DESC) = 1)
SELECT ref.commune_code, period_text(ref.from_vintage, ref.to_vintage, ref.from_year, ref.to_year) AS ref_text,
       ref.from_vintage AS ref_from, ref.to_vintage AS ref_to, ref.rate AS ref_rate,
       ref.rate * getvariable('reference_years') AS reference,
       greatest(ref.rate * getvariable('reference_years') * (1 - getvariable('reduction')), getvariable('commune_floor_m2')) AS ceiling,
       ref.rate * getvariable('reference_years') * (1 - getvariable('reduction')) < getvariable('commune_floor_m2') AS floor_applied,
       period_text(obs.from_vintage, obs.to_vintage, obs.from_year, obs.to_year) AS obs_text,
       obs.from_vintage AS obs_from, obs.to_vintage AS obs_to, obs.rate * getvariable('target_years') AS projection
FROM ref JOIN obs USING (commune_code);

CREATE OR REPLACE TABLE trajectory AS
WITH j AS (
  SELECT m.level, m.code, c.departement, ct.*
  FROM membership m JOIN _commune c USING (commune_code) JOIN _ctraj ct USING (commune_code)),
refp AS (
  SELECT level, code, ref_from, ref_to, ref_text, string_agg(DISTINCT departement, ', ' ORDER BY departement) AS deps FROM j GROUP BY ALL),
obsp AS (
  SELECT level, code, obs_from, obs_to, obs_text, string_agg(DISTINCT departement, ', ' ORDER BY departement) AS deps FROM j GROUP BY ALL),
agg AS (
  SELECT level, code, xsum(ref_rate) AS reference_rate_m2_per_year, xsum(reference) AS reference_2011_2020_m2,
         xsum(ceiling) AS ceiling_2021_2031_m2, count(*) FILTER (WHERE floor_applied)::INTEGER AS floor_applied_communes,
         xsum(projection) AS projection_2021_2031_m2, count(*)::INTEGER AS communes
  FROM j GROUP BY ALL),
members AS (
  SELECT m.level, m.code, count(*)::INTEGER AS total FROM membership m
  WHERE m.commune_code IN (SELECT commune_code FROM _cv) GROUP BY ALL)
SELECT a.level, a.code,
       (SELECT string_agg(format('{} ({})', ref_text, deps), '; ' ORDER BY ref_from, ref_to, ref_text) FROM refp r
        WHERE r.level = a.level AND r.code = a.code) AS reference_period,
       a.reference_rate_m2_per_year, a.reference_2011_2020_m2, a.ceiling_2021_2031_m2, a.floor_applied_communes,
       (SELECT string_agg(format('{} ({})', obs_text, deps), '; ' ORDER BY obs_from, obs_to, obs_text) FROM obsp o
        WHERE o.level = a.level AND o.code = a.code) AS observed_period,
       a.projection_2021_2031_m2, a.projection_2021_2031_m2 <= a.ceiling_2021_2031_m2 AS on_track,
       getvariable('ocs_measure') AS measure, a.communes, (mb.total - a.communes)::INTEGER AS communes_excluded
FROM agg a JOIN members mb USING (level, code)
ORDER BY a.level, a.code;
