-- Piece of a streamed build (see sft_rows_kept.sql): every side a kept row shows - its query (role 0), its target
-- (role 1) and its negatives (role 2, i = position in the pair's list) - with the side's text and media, bucketed
-- by the row's ord under $path. A side used by many rows (a class label) is written once per row that shows it,
-- as in the rows themselves. Relation: kept_rows (sft_rows_kept.sql).
-- Media are references {bytes: NULL, path: "<sha[:2]>/<sha>.<ext>"} into the media store (ext from the file
-- name, else the decoded format); a video entry expands to its frames, in order, as the side's one video
-- (exactly as sft_rows.sql).
COPY (
WITH needed AS (
    SELECT ord, 0 AS role, 0 AS i, qry_side_id AS side_id FROM kept_rows
    UNION ALL
    SELECT ord, 1, 0, pos_side_id FROM kept_rows
    UNION ALL
    SELECT ord, 2, generate_subscripts(negatives, 1), unnest(negatives) FROM kept_rows
),
entries AS (
    SELECT s.side_id, unnest(s.media) AS sha, generate_subscripts(s.media, 1) AS i
    FROM sides s
    WHERE len(s.media) > 0 AND s.side_id IN (SELECT side_id FROM needed)
),
files AS (
    SELECT e.side_id, e.i, 0 AS j, m.sha256, m.kind = 'frame' AS is_frame, m.path, m.format
    FROM entries e
    JOIN media m ON m.sha256 = e.sha AND m.kind <> 'video'
    UNION ALL
    SELECT e.side_id, e.i, vf.frame_index + 1 AS j, f.sha256, TRUE AS is_frame, f.path, f.format
    FROM entries e
    JOIN media v ON v.sha256 = e.sha AND v.kind = 'video'
    JOIN video_frames vf ON vf.video_sha256 = v.sha256
    JOIN media f ON f.sha256 = vf.frame_sha256
),
refs AS (
    SELECT side_id, i, j, is_frame,
           {'bytes': NULL::BLOB,
            'path': substr(sha256, 1, 2) || '/' || sha256 || '.'
                    || lower(coalesce(nullif(regexp_extract(path, '\.([A-Za-z0-9]{1,8})$', 1), ''), format, 'bin'))
           } AS ref
    FROM files
),
side_refs AS (
    SELECT side_id,
           list(ref ORDER BY i, j) FILTER (WHERE NOT is_frame) AS images,
           list(ref ORDER BY i, j) FILTER (WHERE is_frame) AS video
    FROM refs
    GROUP BY side_id
)
SELECT n.ord // $bucket_rows AS bucket, n.ord, n.role, n.i, s.side_id, s.text,
       coalesce(r.images, []::STRUCT(bytes BLOB, path VARCHAR)[]) AS images,
       coalesce(r.video, []::STRUCT(bytes BLOB, path VARCHAR)[]) AS video
FROM needed n
JOIN sides s ON s.side_id = n.side_id
LEFT JOIN side_refs r ON r.side_id = n.side_id
) TO $path (FORMAT parquet, PARTITION_BY (bucket), OVERWRITE_OR_IGNORE, COMPRESSION uncompressed);
