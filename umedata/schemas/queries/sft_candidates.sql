-- Selected pairs whose two sides both have a validated annotation, with the annotation each side uses, as the TEMP
-- table candidates (it stays in DuckDB, which spills it under its memory limit; a build never holds it in Python).
-- Relations supplied by the caller:
--   selected_pairs(pair_id)                      the output of the selection query
--   annotation_preference(rank, model, prompt_version)
--                                                NULL model / prompt_version match anything; an annotation that
--                                                matches no entry is not used.
-- When a side has several usable annotations: the best (lowest) preference rank wins, then the smallest
-- annotation_id, so the choice never depends on insertion order or time (min over a struct compares its fields
-- in order; annotation ids are unique, so the two fields decide).
-- qry_media_keys lists every media hash of the query side, video frames included: the split uses them as
-- leakage keys. Rows come in no particular order; callers sort. Returns the number of candidates; drops
-- selected_pairs.
CREATE OR REPLACE TEMP TABLE candidates AS
WITH sel AS (
    SELECT p.pair_id, p.source, p.dataset_name, p.modality, p.task, p.split, p.qry_side_id, p.pos_side_id
    FROM pairs p
    WHERE p.pair_id IN (SELECT pair_id FROM selected_pairs)  -- a semi join: a query may list a pair twice
),
chosen AS (
    SELECT a.side_id, min({'pref_rank': pr.rank, 'annotation_id': a.annotation_id}) AS best
    FROM validated_annotations a
    JOIN annotation_preference pr
      ON (pr.model IS NULL OR pr.model = a.model)
     AND (pr.prompt_version IS NULL OR pr.prompt_version = a.prompt_version)
    WHERE a.side_id IN (SELECT qry_side_id FROM sel UNION ALL SELECT pos_side_id FROM sel)
    GROUP BY a.side_id
),
qry_own AS (
    SELECT s.side_id, unnest(s.media) AS sha
    FROM sides s
    WHERE s.side_id IN (SELECT qry_side_id FROM sel) AND len(s.media) > 0
),
qry_media AS (
    -- a query side's own media hashes plus the frames of any video among them
    SELECT side_id, list_sort(list(DISTINCT key)) AS keys
    FROM (
        SELECT side_id, sha AS key FROM qry_own
        UNION ALL
        SELECT o.side_id, vf.frame_sha256 FROM qry_own o JOIN video_frames vf ON vf.video_sha256 = o.sha
    )
    GROUP BY side_id
)
SELECT sel.pair_id, sel.source, sel.dataset_name, sel.modality, sel.task, sel.split AS source_split,
       sel.qry_side_id, sel.pos_side_id, q.text AS qry_text,
       coalesce(qm.keys, []::VARCHAR[]) AS qry_media_keys,
       qa.best.annotation_id AS qry_annotation_id, pa.best.annotation_id AS pos_annotation_id
FROM sel
JOIN chosen qa ON qa.side_id = sel.qry_side_id
JOIN chosen pa ON pa.side_id = sel.pos_side_id
JOIN sides q ON q.side_id = sel.qry_side_id
LEFT JOIN qry_media qm ON qm.side_id = sel.qry_side_id;

DROP TABLE selected_pairs;  -- each step drops what no later step reads: a build's TEMP tables fit its memory limit

SELECT count(*) AS candidates FROM candidates;
