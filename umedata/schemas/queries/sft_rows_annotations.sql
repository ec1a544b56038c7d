-- Piece of a streamed build (see sft_rows_kept.sql): the annotation each kept row uses for its query (role 0) and
-- its target (role 1), joined by id (chosen at selection time, so a teacher committing meanwhile changes nothing),
-- bucketed by the row's ord under $path. Relation: kept_rows (sft_rows_kept.sql).
COPY (
WITH needed AS (
    SELECT ord, 0 AS role, qry_annotation_id AS annotation_id FROM kept_rows
    UNION ALL
    SELECT ord, 1, pos_annotation_id FROM kept_rows
)
SELECT n.ord // $bucket_rows AS bucket, n.ord, n.role, a.annotation_id, a.model, a.prompt_version,
       a.reasoning, a.summary, a.raw
FROM needed n
JOIN annotations a ON a.annotation_id = n.annotation_id
) TO $path (FORMAT parquet, PARTITION_BY (bucket), OVERWRITE_OR_IGNORE, COMPRESSION uncompressed);
