-- The rows of one reward shard (relation score_rows, with its row number rn), each with the first problem found
-- (NULL: the row is good). The reward's arithmetic is checked within $tolerance (r_emb = rank x gap,
-- reward = r_format + r_emb; float32 from the scorer), and every row must name a known pair, the side that pair has
-- in that role, and a loaded rollout of that side (load the rollout run before its scores) that is the scored run's
-- own sample (not a key its run had with another text: rollouts_check.sql, key_of_another_run).
SELECT r.*,
       CASE
           WHEN r.pool_id IS NULL OR r.pair_id IS NULL OR r.role IS NULL OR r.side_id IS NULL OR r.k IS NULL
                OR r.rollout_key IS NULL OR r.r_format IS NULL OR r.rank IS NULL OR r.gap IS NULL
                OR r.r_emb IS NULL OR r.reward IS NULL
               THEN 'missing_field'
           WHEN r.role NOT IN ('qry', 'pos') THEN 'bad_role'
           WHEN NOT (isfinite(r.r_format) AND isfinite(r.rank) AND isfinite(r.gap) AND isfinite(r.r_emb)
                     AND isfinite(r.reward))
               THEN 'not_finite'
           WHEN r.r_format NOT IN (0, 1) THEN 'bad_r_format'
           WHEN r.rank < 0 OR r.rank > 1 THEN 'bad_rank'
           WHEN abs(r.r_emb - r.rank * r.gap) > $tolerance THEN 'inconsistent_r_emb'
           WHEN abs(r.reward - (r.r_format + r.r_emb)) > $tolerance THEN 'inconsistent_reward'
           WHEN p.pair_id IS NULL THEN 'unknown_pair'
           WHEN r.side_id <> CASE r.role WHEN 'qry' THEN p.qry_side_id ELSE p.pos_side_id END THEN 'side_mismatch'
           WHEN o.rollout_key IS NULL THEN 'unknown_rollout'
           WHEN o.side_id <> r.side_id OR o.k <> r.k THEN 'rollout_mismatch'
           WHEN o.run_id <> $run_id AND r.rollout_key IN (SELECT what FROM quarantine
                                                          WHERE source = $run_source AND reason = 'key_of_another_run')
               THEN 'rollout_of_another_run'
           WHEN (r.r_format = 1) <> o.format_ok THEN 'format_mismatch'
       END AS problem
FROM score_rows r
LEFT JOIN (SELECT pair_id, qry_side_id, pos_side_id FROM pairs
           WHERE pair_id IN (SELECT pair_id FROM score_rows)) p ON p.pair_id = r.pair_id
LEFT JOIN (SELECT rollout_key, side_id, k, format_ok, run_id FROM rollouts
           WHERE rollout_key IN (SELECT rollout_key FROM score_rows)) o ON o.rollout_key = r.rollout_key
ORDER BY r.rn;
