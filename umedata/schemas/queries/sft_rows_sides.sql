-- Piece of a streamed build (see sft_rows_kept.sql): every side a kept row shows - its query (role 0), its target
-- (role 1) and its negatives (role 2, i = position in the pair's list) - with the side's text and media, bucketed
-- by the row's ord under $path. A side used by many rows (a class label) is written once per row that shows it,
-- as in the rows themselves. Relation: kept_rows (sft_rows_kept.sql).
-- Media are references into the media store, images in order and a video's frames in order as the side's one
-- video (views/version_sides.sql, as sft_rows.sql), expanded for the sides that have media only.
-- The join shape matters at scale: the text comes from scanning sides against the narrow `needed` (ids and ord),
-- so no hash table holds texts; joining the rows to version_sides' output instead builds on that wide output and
-- runs out of a build's memory at 2 M pairs.
COPY (
WITH needed AS (
    SELECT ord, 0 AS role, 0 AS i, qry_side_id AS side_id FROM kept_rows
    UNION ALL
    SELECT ord, 1, 0, pos_side_id FROM kept_rows
    UNION ALL
    SELECT ord, 2, generate_subscripts(negatives, 1), unnest(negatives) FROM kept_rows
),
with_media AS (
    SELECT s.side_id FROM sides s WHERE len(s.media) > 0 AND s.side_id IN (SELECT side_id FROM needed)
),
refs AS (
    SELECT side_id, images, video FROM version_sides('with_media')
)
SELECT n.ord // $bucket_rows AS bucket, n.ord, n.role, n.i, s.side_id, s.text,
       coalesce(r.images, []::STRUCT(bytes BLOB, path VARCHAR)[]) AS images,
       coalesce(r.video, []::STRUCT(bytes BLOB, path VARCHAR)[]) AS video
FROM needed n
JOIN sides s ON s.side_id = n.side_id
LEFT JOIN refs r ON r.side_id = n.side_id
) TO $path (FORMAT parquet, PARTITION_BY (bucket), OVERWRITE_OR_IGNORE, COMPRESSION uncompressed);
