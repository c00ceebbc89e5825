-- Artificialised stock of one clipped vintage (psql variables: clip, vintage), one CSV row per commune it covers:
-- commune, vintage, artificialised m² (ST_Area in EPSG:2154 metres).

COPY (
  SELECT commune, :vintage, coalesce(sum(ST_Area(geom)) FILTER (WHERE artificialised), 0)
  FROM :"clip" GROUP BY commune ORDER BY commune
) TO STDOUT WITH (FORMAT csv);
