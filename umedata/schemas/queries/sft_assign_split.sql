-- Train/eval split by leakage group: the TEMP table kept(pair_id, split, split_group, qry_annotation_id,
-- pos_annotation_id) a version is built from. Relations: mixed (sft_mix.sql) and kept_components(rid, component),
-- where component numbers the connected groups of sft_split_keys.sql. A group's key (split_group) is its smallest
-- pair_id, so it does not depend on how components were numbered. The annotation ids pass through to the kept rows.
-- $mode 'group': a group goes to eval when a seeded hash of its key falls below $eval_fraction.
-- $mode 'source': each pair keeps its source split (train/training -> train, anything else -> eval); a train pair
--                 whose group also has eval pairs would leak, so it is dropped (and counted: the last statement).
-- The selection's other TEMP tables (mixed, split_edges, ...) are dropped: only kept goes on.
CREATE OR REPLACE TEMP TABLE kept_groups AS
SELECT m.pair_id, m.source_split, c.component, m.qry_annotation_id, m.pos_annotation_id
FROM mixed m
JOIN kept_components c ON c.rid = m.rid;

CREATE OR REPLACE TEMP TABLE split_assigned AS
WITH groups AS (
    SELECT component,
           min(pair_id) AS split_group,
           bool_or(lower(source_split) NOT IN ('train', 'training')) AS has_eval_source
    FROM kept_groups
    GROUP BY component
),
hashed AS (
    SELECT *, md5_number_upper($seed || ':' || split_group) / 18446744073709551616.0 < $eval_fraction AS to_eval
    FROM groups
),
assigned AS (
    SELECT k.pair_id, k.qry_annotation_id, k.pos_annotation_id, h.split_group, h.has_eval_source,
           CASE
               WHEN $mode = 'source' THEN
                   CASE WHEN lower(k.source_split) IN ('train', 'training') THEN 'train' ELSE 'eval' END
               WHEN h.to_eval THEN 'eval'
               ELSE 'train'
           END AS split
    FROM kept_groups k
    JOIN hashed h ON h.component = k.component
)
SELECT pair_id, split, split_group, qry_annotation_id, pos_annotation_id,
       $mode = 'source' AND split = 'train' AND has_eval_source AS leaks
FROM assigned;

CREATE OR REPLACE TEMP TABLE kept AS
SELECT pair_id, split, split_group, qry_annotation_id, pos_annotation_id FROM split_assigned WHERE NOT leaks;

CREATE OR REPLACE TEMP TABLE split_dropped AS SELECT count(*) FILTER (WHERE leaks) AS dropped FROM split_assigned;

DROP TABLE split_assigned;
DROP TABLE kept_groups;
DROP TABLE kept_components;
DROP TABLE split_edges;
DROP TABLE mixed;

SELECT dropped FROM split_dropped;
