-- The rows of an SFT version, one per kept pair, in the column layout of docs/interfaces.md ("Dataset version
-- directory"). Unordered: the caller sorts them into canonical order (split, pair_id) - cheaper in Arrow than
-- sorting wide rows here.
-- Relation: kept(pair_id, split, split_group, qry_annotation_id, pos_annotation_id) - the annotations were chosen
-- at selection time and are joined by id here, so a teacher committing meanwhile cannot change the result.
-- Media are references {bytes: NULL, path: "<sha[:2]>/<sha>.<ext>"} into the media store (ext from the file
-- name, else the decoded format); a video entry expands to its frames, in order, as the side's one video.
-- $format_version: umedata.format.FORMAT_VERSION.
WITH kp AS (
    SELECT p.pair_id, p.source, p.dataset_name, p.modality, p.task, p.split AS source_split, p.qry_side_id,
           p.pos_side_id, p.negatives, k.split, k.split_group, k.qry_annotation_id, k.pos_annotation_id
    FROM kept k
    JOIN pairs p ON p.pair_id = k.pair_id
),
needed AS (
    SELECT qry_side_id AS side_id FROM kp
    UNION ALL
    SELECT pos_side_id FROM kp
    UNION ALL
    SELECT unnest(negatives) FROM kp
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
),
full_sides AS (
    SELECT s.side_id, s.text,
           coalesce(r.images, []::STRUCT(bytes BLOB, path VARCHAR)[]) AS images,
           coalesce(r.video, []::STRUCT(bytes BLOB, path VARCHAR)[]) AS video
    FROM sides s
    LEFT JOIN side_refs r ON r.side_id = s.side_id
    WHERE s.side_id IN (SELECT side_id FROM needed)
),
negs AS (
    SELECT n.pair_id,
           list({'side_id': fs.side_id, 'text': fs.text, 'images': fs.images, 'video': fs.video} ORDER BY n.i)
               AS negatives
    FROM (SELECT pair_id, unnest(negatives) AS side_id, generate_subscripts(negatives, 1) AS i FROM kp) n
    JOIN full_sides fs ON fs.side_id = n.side_id
    GROUP BY n.pair_id
)
SELECT kp.pair_id, kp.dataset_name, kp.modality, kp.task, kp.split,
       kp.qry_side_id, kp.pos_side_id,
       q.text AS qry_text, t.text AS pos_text,
       q.images AS qry_images, t.images AS pos_images,
       q.video AS qry_video, t.video AS pos_video,
       qa.reasoning AS qry_reasoning, qa.summary AS qry_summary,
       pa.reasoning AS pos_reasoning, pa.summary AS pos_summary,
       coalesce(ng.negatives,
                []::STRUCT(side_id VARCHAR, text VARCHAR, images STRUCT(bytes BLOB, path VARCHAR)[],
                           video STRUCT(bytes BLOB, path VARCHAR)[])[]) AS negatives,
       $format_version AS format_version,
       kp.source, kp.source_split, kp.split_group,
       qa.annotation_id AS qry_annotation_id, qa.model AS qry_teacher_model, qa.prompt_version AS qry_prompt_version,
       pa.annotation_id AS pos_annotation_id, pa.model AS pos_teacher_model, pa.prompt_version AS pos_prompt_version,
       qa.raw AS qry_raw, pa.raw AS pos_raw
FROM kp
JOIN full_sides q ON q.side_id = kp.qry_side_id
JOIN full_sides t ON t.side_id = kp.pos_side_id
JOIN annotations qa ON qa.annotation_id = kp.qry_annotation_id
JOIN annotations pa ON pa.annotation_id = kp.pos_annotation_id
LEFT JOIN negs ng ON ng.pair_id = kp.pair_id;
