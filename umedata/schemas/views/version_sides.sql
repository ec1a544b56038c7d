-- version_sides(tbl): every side whose id is in the side_id column of the table (or CTE) named `tbl`, once, with
-- its media as references into the media store, exactly as dataset versions and eval exports carry them: images
-- [{bytes: NULL, path: "<sha[:2]>/<sha>.<ext>"}] in order (ext from the file name, else the decoded format); a video
-- entry expands to its frames, in order, as the side's one video. Columns: side_id, text, modality, images, video
-- (empty lists, never NULL).
-- A table macro, not a view: the expansion runs for the sides asked for only (an eval export needs a few thousand
-- of a warehouse's millions). The ids come by table name (query_table), not as a list, so a build of millions of
-- rows never holds them in one value: WITH needed AS (...) SELECT ... FROM version_sides('needed'). Its own CTEs are
-- named vs_*: a caller's table must not be.
CREATE OR REPLACE MACRO version_sides(tbl) AS TABLE
WITH vs_ids AS (
    SELECT side_id FROM query_table(tbl)
),
vs_entries AS (
    SELECT s.side_id, unnest(s.media) AS sha, generate_subscripts(s.media, 1) AS i
    FROM sides s
    WHERE len(s.media) > 0 AND s.side_id IN (SELECT side_id FROM vs_ids)
),
vs_files AS (
    SELECT e.side_id, e.i, 0 AS j, m.sha256, m.kind = 'frame' AS is_frame, m.path, m.format
    FROM vs_entries e
    JOIN media m ON m.sha256 = e.sha AND m.kind <> 'video'
    UNION ALL
    SELECT e.side_id, e.i, vf.frame_index + 1 AS j, f.sha256, TRUE AS is_frame, f.path, f.format
    FROM vs_entries e
    JOIN media v ON v.sha256 = e.sha AND v.kind = 'video'
    JOIN video_frames vf ON vf.video_sha256 = v.sha256
    JOIN media f ON f.sha256 = vf.frame_sha256
),
vs_refs AS (
    SELECT side_id, i, j, is_frame,
           {'bytes': NULL::BLOB,
            'path': substr(sha256, 1, 2) || '/' || sha256 || '.'
                    || lower(coalesce(nullif(regexp_extract(path, '\.([A-Za-z0-9]{1,8})$', 1), ''), format, 'bin'))
           } AS ref
    FROM vs_files
),
vs_side_refs AS (
    SELECT side_id,
           list(ref ORDER BY i, j) FILTER (WHERE NOT is_frame) AS images,
           list(ref ORDER BY i, j) FILTER (WHERE is_frame) AS video
    FROM vs_refs
    GROUP BY side_id
)
SELECT s.side_id, s.text, s.modality,
       coalesce(r.images, []::STRUCT(bytes BLOB, path VARCHAR)[]) AS images,
       coalesce(r.video, []::STRUCT(bytes BLOB, path VARCHAR)[]) AS video
FROM sides s
LEFT JOIN vs_side_refs r ON r.side_id = s.side_id
WHERE s.side_id IN (SELECT side_id FROM vs_ids);
