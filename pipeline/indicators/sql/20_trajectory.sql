-- trajectory: the ZAN allowance for 2021–2030 (1 Jan 2021 → 1 Jan 2031) and the consumption since 2021, per territory.
-- Rules (nomenclature/zan-rules.yml, docs/OUTPUT_SCHEMA.md "Trajectory"):
-- * source 'cerema' when --cerema is given: reference = Σ consumption_cerema 'total' of the years 2011…2020 (ten years,
--   every year must be in the file); consumed since 2021 = Σ of the file's years from 2021 (through consumed_through_year).
-- * source 'ocs' otherwise: per commune, the consecutive OCS period whose real years (from_year → to_year, the labels
--   without --vintage-years) overlap the reference decade the most (ties: the earlier) gives a reference = its ENAF
--   consumption / its length in real years × 10, *estimated*, only when it overlaps the decade by
--   at least getvariable('ocs_min_overlap_years') and lies outside it for at most getvariable('ocs_max_outside_share') of
--   its length; a higher level needs every member commune to have one. Consumption since 2021 only comes from periods
--   starting on or after 2021: a pre-2021 rate is never shown as 2021–2030 consumption.
-- * reduction_target: the territory's own (--targets), else that of the smallest enclosing territory that has one
--   (smallest area; a territory encloses another when it holds all its communes), else getvariable('reduction').
-- * allowance = reference × (1 − reduction_target). Garantie communale: only communes of --planning-documents whose
--   document is eligible get max(allowance, getvariable('commune_floor_m2')); parents never sum floored communes: their
--   allowance comes from their own reference.
-- * estimated_2021_2030_m2 = consumed + the mean annual consumption since 2021 × the remaining years: an estimate.
-- * status: not_computable (no reference), no_consumption_data (no measure since 2021), exceeded (consumed > allowance),
--   estimated_to_exceed (the estimate exceeds the allowance), within_allowance.

CREATE OR REPLACE TEMP TABLE _ttarget AS
WITH size AS (SELECT level, code, count(*) AS n FROM membership GROUP BY ALL),
enclosing AS (
  SELECT t.level, t.code, u.level AS u_level, u.code AS u_code, count(*) AS shared
  FROM membership t JOIN membership u USING (commune_code) GROUP BY ALL)
SELECT e.level, e.code, g.reduction_target, e.u_level AS from_level, e.u_code AS from_code
FROM enclosing e JOIN size s ON s.level = e.level AND s.code = e.code AND e.shared = s.n
JOIN _targets_in g ON g.level = e.u_level AND g.code = e.u_code
JOIN territory ut ON ut.level = e.u_level AND ut.code = e.u_code
QUALIFY row_number() OVER (PARTITION BY e.level, e.code
                           ORDER BY (e.u_level = e.level AND e.u_code = e.code) DESC, ut.area_m2, ut.communes, e.u_level, e.u_code) = 1;

-- OCS reference and consumption since 2021, per commune.
CREATE OR REPLACE TEMP TABLE _ctraj AS
WITH p AS (
  SELECT cp.commune_code, cp.from_vintage, cp.to_vintage, cp.from_year, cp.to_year, cp.to_year - cp.from_year AS len, cm.consumption,
         greatest(0, least(cp.to_year, getvariable('reference_end')) - greatest(cp.from_year, getvariable('reference_start'))) AS overlap
  FROM _cp cp JOIN _cm cm USING (commune_code, from_vintage, to_vintage) WHERE cp.kind = 'consecutive'),
ref AS (
  SELECT * FROM p WHERE overlap > 0
  QUALIFY row_number() OVER (PARTITION BY commune_code ORDER BY overlap DESC, from_vintage) = 1),
since AS (
  SELECT commune_code, xsum(consumption) AS consumed, max(to_year) - 1 AS through_year, sum(len) AS years
  FROM p WHERE from_year >= getvariable('allowance_start') AND to_year <= getvariable('allowance_end') GROUP BY ALL)
SELECT c.commune_code, c.departement, ref.from_vintage AS ref_from, ref.to_vintage AS ref_to,
       period_text(ref.from_vintage, ref.to_vintage, ref.from_year, ref.to_year) AS ref_text,
       coalesce(ref.overlap >= getvariable('ocs_min_overlap_years')
                AND (ref.len - ref.overlap) / ref.len <= getvariable('ocs_max_outside_share'), false) AS computable,
       ref.consumption / ref.len * getvariable('reference_years') AS reference,
       since.consumed, since.through_year, since.consumed / since.years AS rate_since
FROM _commune c LEFT JOIN ref USING (commune_code) LEFT JOIN since USING (commune_code);

CREATE OR REPLACE TEMP TABLE _tocs AS
WITH j AS (SELECT m.level, m.code, ct.* FROM membership m JOIN _ctraj ct USING (commune_code)),
basis AS (
  SELECT level, code, ref_from, ref_to, ref_text, string_agg(DISTINCT departement, ', ' ORDER BY departement) AS deps
  FROM j WHERE computable GROUP BY ALL)
SELECT j.level, j.code, count(*) AS communes, count(*) FILTER (WHERE NOT j.computable) AS without_reference,
       xsum(CASE WHEN j.computable THEN j.reference END) AS reference,
       count(*) FILTER (WHERE j.consumed IS NULL) AS without_since,
       xsum(j.consumed) AS consumed, min(j.through_year) AS through_year, xsum(j.rate_since) AS rate_since,
       (SELECT string_agg(format('OCS {} ({})', b.ref_text, b.deps), '; ' ORDER BY b.ref_from, b.ref_to, b.ref_text)
        FROM basis b WHERE b.level = j.level AND b.code = j.code) AS basis
FROM j GROUP BY j.level, j.code;

-- Cerema reference and consumption since 2021, per territory (consumption_cerema already sums every level).
CREATE OR REPLACE TEMP TABLE _tcerema AS
WITH present AS (
  SELECT m.level, m.code, count(DISTINCT c.commune_code) AS communes
  FROM membership m JOIN _cerema_in c USING (commune_code) GROUP BY ALL),
years AS (
  SELECT level, code,
         xsum(CASE WHEN year >= getvariable('reference_start') AND year < getvariable('reference_end') THEN area_m2 END) AS reference,
         count(DISTINCT year) FILTER (WHERE year >= getvariable('reference_start') AND year < getvariable('reference_end')) AS reference_years,
         xsum(CASE WHEN year >= getvariable('allowance_start') AND year < getvariable('allowance_end') THEN area_m2 END) AS consumed,
         max(year) FILTER (WHERE year >= getvariable('allowance_start') AND year < getvariable('allowance_end')) AS through_year,
         count(DISTINCT year) FILTER (WHERE year >= getvariable('allowance_start') AND year < getvariable('allowance_end')) AS years_since
  FROM consumption_cerema WHERE destination = 'total' GROUP BY ALL)
SELECT t.level, t.code, coalesce(p.communes, 0) AS communes_in_file, y.reference, coalesce(y.reference_years, 0) AS reference_years,
       y.consumed, y.through_year, y.consumed / nullif(y.years_since, 0) AS rate_since
FROM territory t LEFT JOIN present p USING (level, code) LEFT JOIN years y USING (level, code);

CREATE OR REPLACE TABLE trajectory AS
WITH base AS (
  SELECT t.level, t.code, t.communes,
         CASE WHEN getvariable('cerema_given') THEN 'cerema' ELSE 'ocs' END AS source,
         CASE WHEN getvariable('cerema_given') THEN
                CASE WHEN ce.communes_in_file = 0 THEN NULL
                     WHEN ce.reference_years < getvariable('reference_years') THEN NULL
                     ELSE coalesce(ce.reference, 0) END
              WHEN o.without_reference = 0 THEN o.reference END AS reference,
         CASE WHEN getvariable('cerema_given') THEN
                CASE WHEN ce.communes_in_file = 0 THEN 'not in the Cerema file'
                     WHEN ce.reference_years < getvariable('reference_years')
                       THEN format('the Cerema file has {} of the 10 years 2011–2020', ce.reference_years) END
              WHEN o.without_reference > 0
                THEN format('{}no OCS period covering 2011–2020 well enough (≥ {} years of the decade, ≤ {} % outside it)',
                            CASE WHEN t.level <> 'commune' THEN format('{} of {} communes have ', o.without_reference, o.communes) ELSE '' END,
                            getvariable('ocs_min_overlap_years'), round(getvariable('ocs_max_outside_share') * 100)::INTEGER) END AS not_computable_reason,
         CASE WHEN getvariable('cerema_given') THEN 'Cerema 2011–2020' ELSE o.basis || ' × 10 / period length (estimated)' END AS reference_basis,
         CASE WHEN getvariable('cerema_given') THEN t.communes - coalesce(ce.communes_in_file, 0) ELSE coalesce(o.without_reference, t.communes) END AS communes_without_data,
         CASE WHEN getvariable('cerema_given') THEN ce.consumed WHEN o.without_since = 0 THEN o.consumed END AS consumed,
         CASE WHEN getvariable('cerema_given') THEN ce.through_year WHEN o.without_since = 0 THEN o.through_year END AS through_year,
         CASE WHEN getvariable('cerema_given') THEN ce.rate_since WHEN o.without_since = 0 THEN o.rate_since END AS rate_since,
         coalesce(tg.reduction_target, getvariable('reduction')) AS reduction_target,
         CASE WHEN tg.from_level IS NULL THEN 'default'
              WHEN tg.from_level = t.level AND tg.from_code = t.code THEN 'own'
              ELSE format('{} {}', tg.from_level, tg.from_code) END AS reduction_target_from,
         pd.document, coalesce(pd.eligible, false) AS eligible
  FROM territory t
  LEFT JOIN _tcerema ce USING (level, code)
  LEFT JOIN _tocs o USING (level, code)
  LEFT JOIN _ttarget tg USING (level, code)
  LEFT JOIN _planning_in pd ON t.level = 'commune' AND pd.commune_code = t.code),
allowance AS (
  SELECT *, reference * (1 - reduction_target) AS raw_allowance,
         level = 'commune' AND eligible AND reference IS NOT NULL AND reference * (1 - reduction_target) < getvariable('commune_floor_m2') AS guarantee_applied
  FROM base),
figures AS (
  SELECT *,
         CASE WHEN guarantee_applied THEN getvariable('commune_floor_m2') ELSE raw_allowance END AS allowance,
         consumed + rate_since * (getvariable('allowance_end') - 1 - through_year) AS estimated
  FROM allowance)
SELECT level, code, source, reference AS reference_2011_2020_m2, reference_basis, reduction_target::DOUBLE AS reduction_target, reduction_target_from,
       allowance AS allowance_2021_2030_m2, guarantee_applied,
       consumed AS consumed_since_2021_m2, through_year::INTEGER AS consumed_through_year, allowance - consumed AS remaining_m2,
       CASE WHEN reference IS NOT NULL THEN estimated END AS estimated_2021_2030_m2,
       CASE WHEN reference IS NULL THEN 'not_computable'
            WHEN consumed IS NULL THEN 'no_consumption_data'
            WHEN consumed > allowance THEN 'exceeded'
            WHEN estimated > allowance THEN 'estimated_to_exceed'
            ELSE 'within_allowance' END AS status,
       concat_ws('; ',
         not_computable_reason,
         CASE WHEN reference IS NOT NULL AND consumed IS NULL THEN
           CASE WHEN source = 'ocs' THEN 'no OCS period starting in 2021 or later: consumption since 2021 is not measured (a pre-2021 rate is not used)'
                ELSE 'the Cerema file has no year from 2021' END END,
         CASE WHEN reference IS NOT NULL AND consumed IS NOT NULL
           THEN format('consumed through {}; estimated {} m² over 2021–2030 at the mean annual rate since 2021 (estimate)', through_year, round(estimated)::BIGINT) END,
         CASE WHEN level <> 'commune' THEN 'allowance from the territory''s own reference (garantie communale not summed)'
              WHEN NOT getvariable('planning_given') THEN 'garantie communale not applied: no --planning-documents file'
              WHEN document IS NULL THEN 'garantie communale not applied: no planning document listed'
              WHEN NOT eligible THEN format('garantie communale not applied: {} is not eligible', document)
              WHEN reference IS NULL THEN NULL
              WHEN guarantee_applied THEN format('garantie communale applied ({}): allowance raised to {} m²', document, getvariable('commune_floor_m2'))
              ELSE format('garantie communale ({}) not needed: allowance above {} m²', document, getvariable('commune_floor_m2')) END,
         CASE WHEN source = 'cerema' AND communes_without_data > 0 AND level <> 'commune'
           THEN format('{} of {} communes not in the Cerema file', communes_without_data, communes) END) AS status_reason,
       communes::INTEGER AS communes, communes_without_data::INTEGER AS communes_without_data
FROM figures
ORDER BY level, code;
