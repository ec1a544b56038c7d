-- First piece of a streamed build (umedata/versions/assemble.py puts the pieces together): the kept pairs in
-- canonical order (split, pair_id), numbered ord = 0..n-1, with the pair's own columns, written as parquet in
-- buckets of $bucket_rows consecutive rows ($path/bucket=<ord // $bucket_rows>/). Every piece is bucketed the same
-- way, so a bucket of each holds everything a run of rows needs and a build never holds more than one bucket.
-- The rows are those of sft_rows.sql (the same rows in one statement, the definition the pieces are tested
-- against). Relation: kept(pair_id, split, split_group, qry_annotation_id, pos_annotation_id). Leaves the TEMP
-- table kept_rows the other pieces join to; returns the number of rows.
-- The order is numbered over the two keys alone (sorting the wide rows would carry them through the sort), then
-- joined back. The pieces are scratch, read once: uncompressed writes and reads fastest.
CREATE OR REPLACE TEMP TABLE kept_order AS
SELECT row_number() OVER (ORDER BY split, pair_id) - 1 AS ord, pair_id FROM kept;

CREATE OR REPLACE TEMP TABLE kept_rows AS
SELECT o.ord, p.pair_id, p.dataset_name, p.modality, p.task, k.split, p.qry_side_id, p.pos_side_id,
       p.source, p.split AS source_split, k.split_group, k.qry_annotation_id, k.pos_annotation_id, p.negatives
FROM kept k
JOIN kept_order o ON o.pair_id = k.pair_id
JOIN pairs p ON p.pair_id = k.pair_id;

DROP TABLE kept_order;

COPY (SELECT ord // $bucket_rows AS bucket, * EXCLUDE (negatives) FROM kept_rows)
TO $path (FORMAT parquet, PARTITION_BY (bucket), OVERWRITE_OR_IGNORE, COMPRESSION uncompressed);

SELECT count(*) AS rows FROM kept_rows;
