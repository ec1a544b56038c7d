-- The rows of one rollout shard (relation shard_rows, with its row number rn), each with the first problem found
-- (NULL: the row is good). The key and the format flag are recomputed here, vectorised, from their definitions in
-- docs/interfaces.md: rollout_key = digest('rollout', checkpoint_id, side_id, k, sampling_id) (umedata.ids: sha256
-- of the parts joined by U+001F, 32 hex), format_ok = $format_regex (umedata.format.FORMAT_REGEX) on the text.
-- $k: samples per side of the run; a side the warehouse does not know cannot be curated (unknown_side). A key
-- already loaded from another run is the same sample when its text is the same (the same checkpoint rolled out on
-- another version that shares the side: it is kept once); with another text (another backend: the key does not
-- name it) it is key_of_another_run, never a silent mix.
SELECT r.*,
       CASE
           WHEN r.rollout_key IS NULL OR r.side_id IS NULL OR r.k IS NULL OR r.text IS NULL OR r.format_ok IS NULL
               THEN 'missing_field'
           WHEN r.k < 0 OR r.k >= $k THEN 'bad_k'
           WHEN r.rollout_key <> left(sha256(concat_ws(chr(31), 'rollout', $checkpoint_id, r.side_id,
                                                      CAST(r.k AS VARCHAR), $sampling_id)), 32)
               THEN 'bad_rollout_key'
           WHEN r.finish_reason IS NOT NULL AND r.finish_reason NOT IN ('stop', 'length') THEN 'bad_finish_reason'
           WHEN r.format_ok <> regexp_matches(r.text, $format_regex) THEN 'format_mismatch'
           WHEN s.side_id IS NULL THEN 'unknown_side'
           WHEN o.run_id IS NOT NULL AND o.run_id <> $run_id AND o.text <> r.text THEN 'key_of_another_run'
       END AS problem
FROM shard_rows r
LEFT JOIN (SELECT DISTINCT side_id FROM sides WHERE side_id IN (SELECT side_id FROM shard_rows)) s
       ON s.side_id = r.side_id
LEFT JOIN (SELECT rollout_key, run_id, text FROM rollouts WHERE rollout_key IN (SELECT rollout_key FROM shard_rows)) o
       ON o.rollout_key = r.rollout_key
ORDER BY r.rn;
