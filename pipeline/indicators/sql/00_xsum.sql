-- xsum(x): exact sum of areas.
-- Areas are summed in whole µm² (HUGEINT) and converted back to m², so a total does not depend on the order
-- in which DuckDB's threads add rows: the same input gives the same bytes whatever the machine.

CREATE OR REPLACE TEMP MACRO xsum(x) AS (sum(round((x) * 1e6)::HUGEINT)::DOUBLE / 1e6);
