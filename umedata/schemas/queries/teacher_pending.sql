-- Sides a teacher run still has to annotate, with everything needed to build their requests, written to a parquet
-- file ($spill_path) in small row groups: COPY streams inside DuckDB, so the client never holds more than a few
-- thousand pending sides at once, however many there are.
-- Parameters: $spill_path, $model, $params_hash, $sources, $datasets, $splits, $modalities (VARCHAR[] or NULL = all),
--             $include_negatives (BOOLEAN), $retry_failed (BOOLEAN: also keys that failed for good),
--             $side_filter (BOOLEAN: only the sides of chosen_sides), $requeue (BOOLEAN: also sides that already
--             have an ok annotation for (model, prompt_version); their request for these params must still be new),
--             $part, $parts (this file holds the sides whose hash(side_id) % $parts = $part: see below).
-- Relations supplied by the caller: prompt_versions(modality, prompt_version), one row per modality;
--             chosen_sides(side_id), read only with $side_filter.
-- A side counts as used by every pair that names it; it may go to an external teacher only if *every* source
-- using it allows that (the most restrictive source wins). A side is pending unless it already has an ok
-- annotation for (model, prompt_version), or its request for these exact params is finished (done, or failed
-- for good).
-- Memory: the aggregates over every pair grow with the warehouse (~800 MB at a million sides, measured). The caller
-- runs this once per part, each part a slice of the side ids (producer.SPILL_PART_PAIRS pairs per part), so a
-- part's aggregates stay the same size however large the warehouse, and under the memory limit DuckDB spills what
-- still does not fit beside the file (the limit alone, without parts, runs out of memory at a million sides). The
-- client's memory stays what sending needs.
SET memory_limit = '64MB';

COPY (
WITH every_use AS (
    SELECT qry_side_id AS side_id, source, dataset_name, split FROM pairs
    UNION ALL
    SELECT pos_side_id, source, dataset_name, split FROM pairs
    UNION ALL
    SELECT unnest(negatives), source, dataset_name, split FROM pairs WHERE $include_negatives
),
uses AS (
    SELECT * FROM every_use WHERE hash(side_id) % $parts = $part
),
eligibility AS (
    SELECT u.side_id, min(u.source) AS source,
           bool_and(coalesce(s.allow_external_teacher, false)) AS external_ok
    FROM uses u LEFT JOIN sources s ON s.name = u.source
    GROUP BY u.side_id
),
selected AS (
    SELECT DISTINCT side_id FROM uses
    WHERE ($sources IS NULL OR list_contains($sources, source))
      AND (NOT $side_filter OR side_id IN (SELECT side_id FROM chosen_sides))
      AND ($datasets IS NULL OR list_contains($datasets, dataset_name))
      AND ($splits IS NULL OR list_contains($splits, split))
),
pending AS (
    SELECT sd.side_id, sd.text, sd.media, sd.modality, e.source, e.external_ok, pv.prompt_version
    FROM selected x
    JOIN (SELECT * FROM sides WHERE hash(side_id) % $parts = $part) sd ON sd.side_id = x.side_id
    JOIN eligibility e ON e.side_id = x.side_id
    JOIN prompt_versions pv ON pv.modality = sd.modality
    WHERE ($modalities IS NULL OR list_contains($modalities, sd.modality))
      AND ($requeue OR NOT EXISTS (
          SELECT 1 FROM annotations a
          WHERE a.side_id = sd.side_id AND a.model = $model AND a.prompt_version = pv.prompt_version
            AND a.format_status = 'ok'))
      AND NOT EXISTS (
          SELECT 1 FROM teacher_requests r
          WHERE r.side_id = sd.side_id AND r.model = $model AND r.prompt_version = pv.prompt_version
            AND r.params_hash = $params_hash
            AND (r.status = 'done' OR (r.status = 'failed' AND NOT r.retryable AND NOT $retry_failed)))
),
media_items AS (
    SELECT p.side_id, m.i, m.sha
    FROM pending p, LATERAL (SELECT unnest(p.media) AS sha, generate_subscripts(p.media, 1) AS i) m
),
frames AS (  -- the frames of this part's videos only
    SELECT vf.video_sha256, list(f.path ORDER BY vf.frame_index) AS paths,
           list(vf.frame_sha256 ORDER BY vf.frame_index) AS hashes
    FROM video_frames vf JOIN media f ON f.sha256 = vf.frame_sha256
    WHERE vf.video_sha256 IN (SELECT sha FROM media_items)
    GROUP BY vf.video_sha256
),
media_info AS (
    SELECT mi.side_id,
           list(struct_pack(sha256 := mi.sha, kind := md.kind, path := md.path, width := md.width,
                            height := md.height, frame_paths := fr.paths, frame_hashes := fr.hashes)
                ORDER BY mi.i) AS media_info
    FROM media_items mi
    LEFT JOIN media md ON md.sha256 = mi.sha
    LEFT JOIN frames fr ON fr.video_sha256 = mi.sha
    GROUP BY mi.side_id
)
SELECT p.side_id, p.text, p.modality, p.source, p.external_ok, p.prompt_version, mi.media_info
FROM pending p LEFT JOIN media_info mi ON mi.side_id = p.side_id
) TO $spill_path (FORMAT parquet, ROW_GROUP_SIZE 4096);
