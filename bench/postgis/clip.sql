-- One vintage cut by the communes (psql variables: layer = the loaded vintage table, clip = the table written).
-- clip(commune, artificialised, geom): each polygon's part in each commune it meets (GiST join on the bounding
-- boxes); a polygon covered by its commune is kept whole (ST_CoveredBy fast path, no ST_Intersection); only the
-- polygonal parts of an intersection are kept, so the pieces can be intersected again by flux.sql. Pieces under
-- 1e-6 m² are rounding slivers of the cut: dropped, as ocs-zan's overlay drops them (SLIVER_M2), and GEOS predicates
-- on some of them fail (TopologyException: side location conflict).

CREATE TABLE :"clip" AS
SELECT commune, artificialised, geom
FROM (
  SELECT c.code AS commune, k.artificialised,
         CASE WHEN ST_CoveredBy(o.geom, c.geom) THEN o.geom
              ELSE ST_CollectionExtract(ST_Intersection(o.geom, c.geom), 3) END AS geom
  FROM :"layer" o
  JOIN communes c ON ST_Intersects(o.geom, c.geom)
  JOIN artif_class k ON k.code_cs = o.code_cs AND k.code_us = o.code_us
) cut
WHERE ST_Area(geom) >= 1e-6;

CREATE INDEX ON :"clip" USING GIST (geom);
ANALYZE :"clip";
