-- Pairs of `kept` (relation with a pair_id column) that share content with a registered eval set, and how:
--   media: a medium of the pair's query or target (an image, a document page, a video or any of its frames, by
--          sha256) is a medium of any eval query or candidate;
--   text:  the pair's query has no media and its normalised text is the normalised text of an eval query without
--          media. Normalisation as the leakage keys (sft_split_keys.sql): NFC, lower case, every run of characters
--          that are neither letters nor digits one space. An image query's text is mostly a dataset-wide
--          instruction ("Represent the given image."), which would match whole datasets, so only text-only
--          queries are compared by text; an image query is judged by its image.
WITH eval_side_ids AS (
    SELECT side_id FROM eval_queries
    UNION
    SELECT side_id FROM eval_candidates
),
eval_own AS (
    SELECT unnest(s.media) AS sha FROM sides s WHERE s.side_id IN (SELECT side_id FROM eval_side_ids)
),
eval_media AS (
    SELECT sha FROM eval_own
    UNION
    SELECT vf.frame_sha256 FROM eval_own o JOIN video_frames vf ON vf.video_sha256 = o.sha
),
eval_texts AS (
    SELECT DISTINCT trim(regexp_replace(lower(nfc_normalize(s.text)), '[^\p{L}\p{N}]+', ' ', 'g')) AS norm
    FROM eval_queries q
    JOIN sides s ON s.side_id = q.side_id
    WHERE len(s.media) = 0
),
pair_sides AS (
    SELECT p.pair_id, p.qry_side_id AS side_id, TRUE AS is_query FROM pairs p WHERE p.pair_id IN (SELECT pair_id FROM kept)
    UNION ALL
    SELECT p.pair_id, p.pos_side_id, FALSE FROM pairs p WHERE p.pair_id IN (SELECT pair_id FROM kept)
),
pair_own AS (
    SELECT ps.pair_id, unnest(s.media) AS sha FROM pair_sides ps JOIN sides s ON s.side_id = ps.side_id
),
pair_media AS (
    SELECT pair_id, sha FROM pair_own
    UNION ALL
    SELECT o.pair_id, vf.frame_sha256 FROM pair_own o JOIN video_frames vf ON vf.video_sha256 = o.sha
),
flagged AS (
    SELECT DISTINCT pair_id, 'media' AS reason FROM pair_media WHERE sha IN (SELECT sha FROM eval_media)
    UNION ALL
    SELECT DISTINCT ps.pair_id, 'text' AS reason
    FROM pair_sides ps
    JOIN sides s ON s.side_id = ps.side_id
    WHERE ps.is_query AND len(s.media) = 0
      AND trim(regexp_replace(lower(nfc_normalize(s.text)), '[^\p{L}\p{N}]+', ' ', 'g'))
          IN (SELECT norm FROM eval_texts WHERE norm <> '')
)
SELECT pair_id, list(reason ORDER BY reason) AS reasons
FROM flagged
GROUP BY pair_id
ORDER BY pair_id;
