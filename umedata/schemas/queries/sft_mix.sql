-- Mix datasets by quota, as the TEMP table mixed. Relations: candidates (sft_candidates.sql), quotas(dataset_name,
-- quota). A dataset listed in quotas keeps at most `quota` pairs; one not listed keeps all of them (quota 0 drops it).
-- Which pairs are kept follows a seeded hash of pair_id: deterministic, independent of the order rows arrived in,
-- and mostly stable when rows are added (a new pair displaces only the ones ranked after it).
-- mixed.rid numbers the rows 0..n-1 (in no particular order: the split's connected components, keyed by rid, do
-- not depend on the numbering). Returns the number of pairs kept; drops candidates.
CREATE OR REPLACE TEMP TABLE mixed AS
SELECT *, row_number() OVER () - 1 AS rid
FROM (
    SELECT c.*
    FROM candidates c
    LEFT JOIN quotas q ON q.dataset_name = c.dataset_name
    QUALIFY q.quota IS NULL
         OR row_number() OVER (PARTITION BY c.dataset_name ORDER BY md5($seed || ':' || c.pair_id), c.pair_id) <= q.quota
);

DROP TABLE candidates;

SELECT count(*) AS pairs FROM mixed;
