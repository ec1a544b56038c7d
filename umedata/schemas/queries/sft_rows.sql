-- The rows of a version, one per kept pair, in the column layout of docs/interfaces.md ("Dataset version
-- directory"), in one statement: the definition. Builds assemble the same rows from pieces (sft_rows_kept.sql,
-- sft_rows_sides.sql, sft_rows_annotations.sql, put together by umedata/versions/assemble.py) so they never hold
-- them; tests/test_versions_stream.py checks both give the same rows. Unordered (canonical order: split, pair_id).
-- Relation: kept(pair_id, split, split_group, qry_annotation_id, pos_annotation_id) - the annotations were chosen
-- at selection time and are joined by id here, so a teacher committing meanwhile cannot change the result.
-- Media are references into the media store, images in order and a video's frames in order as the side's one
-- video (views/version_sides.sql).
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
full_sides AS (
    SELECT side_id, text, images, video FROM version_sides('needed')
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
