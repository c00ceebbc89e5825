-- Flux of one period between two clipped vintages (psql variables: from_clip, to_clip, from_vintage, to_vintage),
-- one CSV row per commune both cover: commune, from, to, artificialisation m², désartificialisation m².
-- The start and end pieces of the same commune are intersected (GiST join). Artificialisation = area artificialised
-- at the end and not at the start, désartificialisation the reverse: a pair with the same flag counts for neither,
-- so only pairs whose flag differs are cut. A piece covered by the other is their intersection (ST_CoveredBy fast
-- path). Areas are ST_Area in EPSG:2154 metres.

COPY (
  WITH pairs AS (
    SELECT a.commune, b.artificialised AS to_artificialised,
           CASE WHEN ST_CoveredBy(a.geom, b.geom) THEN ST_Area(a.geom)
                WHEN ST_CoveredBy(b.geom, a.geom) THEN ST_Area(b.geom)
                ELSE ST_Area(ST_Intersection(a.geom, b.geom)) END AS m2
    FROM :"from_clip" a
    JOIN :"to_clip" b ON b.commune = a.commune AND b.artificialised <> a.artificialised AND ST_Intersects(a.geom, b.geom)
  ),
  covered AS (SELECT commune FROM :"from_clip" INTERSECT SELECT commune FROM :"to_clip")
  SELECT c.commune, :from_vintage, :to_vintage,
         coalesce(sum(p.m2) FILTER (WHERE p.to_artificialised), 0),
         coalesce(sum(p.m2) FILTER (WHERE NOT p.to_artificialised), 0)
  FROM covered c LEFT JOIN pairs p USING (commune)
  GROUP BY c.commune ORDER BY c.commune
) TO STDOUT WITH (FORMAT csv);
