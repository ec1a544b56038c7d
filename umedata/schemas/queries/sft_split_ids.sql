-- The leakage graph as integers (relation split_edges from sft_split_keys*.sql): each edge joins a pair (rid) to a
-- key, and every distinct key gets a number kid (any numbering: connected components do not depend on it). The
-- caller holds two integers per edge, never the keys themselves.
WITH keys AS (
    SELECT key, row_number() OVER () - 1 AS kid
    FROM (SELECT DISTINCT key FROM split_edges)
)
SELECT e.rid, k.kid
FROM split_edges e
JOIN keys k ON k.key = e.key;
