-- RL-set curation, step 2: why each candidate cannot enter (reason NULL: it can), first reason wins:
--   not_scored       no reward rows in the scoring
--   incomplete       a side has other than $expected rewards (K)
--   eval_side        its query side is a side of the SFT version's eval split, its target is an eval query, or its
--                    leakage group reaches into eval (relations rl_eval_sides(side_id, role), rl_eval_groups)
--   zero_variance    both groups constant (variance <= $min_variance): every advantage would be 0
--   out_of_band      the pair's mean reward outside [$min_mean, $max_mean] (NULL: open)
--   duplicate_side   another pair with the same query side ranks higher
--   duplicate_group  $max_per_group pairs of its leakage group rank higher (0: no limit)
-- Relation rl_candidates(pair_id, dataset_name, modality, split_group, qry_side_id, pos_side_id, ...).
-- Order, here and in step 4: score (mean of the two groups' variances), then `tie` = the first 60 bits of pair_id
-- (a hex content hash) XOR $tie_mask (from the seed) - a seeded order in plain arithmetic, the same in every DuckDB
-- version (unlike hash()) and much cheaper than md5 - then pair_id; all descending. Only the query sides and
-- leakage groups that hold more than one passing pair are ranked (a few per cent of the rows).
CREATE OR REPLACE TEMP TABLE rl_eligible AS
WITH s AS MATERIALIZED (
    SELECT c.pair_id, c.dataset_name, c.modality, c.split_group, c.qry_side_id,
           p.n_qry, p.mean_qry, p.var_qry, p.format_qry, p.n_pos, p.mean_pos, p.var_pos, p.format_pos,
           (p.mean_qry + p.mean_pos) / 2 AS mean,
           (p.var_qry + p.var_pos) / 2 AS score,
           xor(try_cast('0x' || c.pair_id[1:15] AS UBIGINT), $tie_mask::UBIGINT) AS tie,
           CASE
               WHEN p.pair_id IS NULL THEN 'not_scored'
               WHEN coalesce(p.n_qry, 0) <> $expected OR coalesce(p.n_pos, 0) <> $expected THEN 'incomplete'
               WHEN c.qry_side_id IN (SELECT side_id FROM rl_eval_sides)
                    OR c.pos_side_id IN (SELECT side_id FROM rl_eval_sides WHERE role = 'qry')
                    OR c.split_group IN (SELECT split_group FROM rl_eval_groups)
                   THEN 'eval_side'
               WHEN coalesce(greatest(p.var_qry, p.var_pos), 0) <= $min_variance THEN 'zero_variance'
               WHEN ($min_mean IS NOT NULL AND (p.mean_qry + p.mean_pos) / 2 < $min_mean)
                    OR ($max_mean IS NOT NULL AND (p.mean_qry + p.mean_pos) / 2 > $max_mean)
                   THEN 'out_of_band'
           END AS reason
    FROM rl_candidates c
    LEFT JOIN rl_pair_stats p ON p.pair_id = c.pair_id
),
passing AS MATERIALIZED (
    SELECT pair_id, qry_side_id, split_group, score, tie FROM s WHERE reason IS NULL
),
side_losers AS (
    SELECT pair_id
    FROM (SELECT pair_id,
                 row_number() OVER (PARTITION BY qry_side_id ORDER BY score DESC, tie DESC, pair_id DESC) AS r
          FROM passing
          WHERE qry_side_id IN (SELECT qry_side_id FROM passing GROUP BY qry_side_id HAVING count(*) > 1))
    WHERE r > 1
),
after_side AS MATERIALIZED (
    SELECT * FROM passing WHERE pair_id NOT IN (SELECT pair_id FROM side_losers)
),
group_losers AS (
    SELECT pair_id
    FROM (SELECT pair_id,
                 row_number() OVER (PARTITION BY split_group ORDER BY score DESC, tie DESC, pair_id DESC) AS r
          FROM after_side
          WHERE $max_per_group > 0
            AND split_group IN (SELECT split_group FROM after_side GROUP BY split_group
                                HAVING count(*) > $max_per_group))
    WHERE r > $max_per_group
)
SELECT s.* EXCLUDE (qry_side_id, reason),
       CASE
           WHEN s.reason IS NOT NULL THEN s.reason
           WHEN s.pair_id IN (SELECT pair_id FROM side_losers) THEN 'duplicate_side'
           WHEN s.pair_id IN (SELECT pair_id FROM group_losers) THEN 'duplicate_group'
       END AS reason
FROM s;
