-- RL-set curation, step 2: why each candidate cannot enter (reason NULL: it can), first reason wins:
--   not_scored       no reward rows in the chosen scorings
--   incomplete       a side has other than $expected rewards (K per scoring)
--   eval_side        its query side is a side of the SFT version's eval split, its target is an eval query, or its
--                    leakage group reaches into eval (relations rl_eval_sides(side_id, role), rl_eval_groups)
--   zero_variance    both groups constant (variance <= $min_variance): every advantage would be 0
--   out_of_band      the pair's mean reward outside [$min_mean, $max_mean] (NULL: open)
--   duplicate_side   another pair with the same query side ranks higher
--   duplicate_group  $max_per_group pairs of its leakage group rank higher (0: no limit)
-- Rank: the pair's score (mean of the two groups' variances) descending, ties by a seeded hash of pair_id.
CREATE OR REPLACE TEMP TABLE rl_eligible AS
WITH filtered AS (
    SELECT s.*,
           md5_number_upper($seed || ':' || s.pair_id) AS tie,
           CASE
               WHEN s.n_qry IS NULL AND s.n_pos IS NULL THEN 'not_scored'
               WHEN coalesce(s.n_qry, 0) <> $expected OR coalesce(s.n_pos, 0) <> $expected THEN 'incomplete'
               WHEN s.qry_side_id IN (SELECT side_id FROM rl_eval_sides)
                    OR s.pos_side_id IN (SELECT side_id FROM rl_eval_sides WHERE role = 'qry')
                    OR s.split_group IN (SELECT split_group FROM rl_eval_groups)
                   THEN 'eval_side'
               WHEN coalesce(greatest(s.var_qry, s.var_pos), 0) <= $min_variance THEN 'zero_variance'
               WHEN ($min_mean IS NOT NULL AND s.mean < $min_mean) OR ($max_mean IS NOT NULL AND s.mean > $max_mean)
                   THEN 'out_of_band'
           END AS reason
    FROM rl_pair_stats s
),
by_side AS (
    SELECT *, CASE WHEN reason IS NULL
                   THEN row_number() OVER (PARTITION BY qry_side_id, reason IS NULL ORDER BY score DESC, tie, pair_id)
              END AS side_rank
    FROM filtered
),
by_group AS (
    SELECT *, CASE WHEN reason IS NULL AND side_rank = 1
                   THEN row_number() OVER (PARTITION BY split_group, reason IS NULL AND side_rank = 1
                                           ORDER BY score DESC, tie, pair_id)
              END AS group_rank
    FROM by_side
)
SELECT * EXCLUDE (reason, side_rank, group_rank),
       CASE
           WHEN reason IS NOT NULL THEN reason
           WHEN side_rank > 1 THEN 'duplicate_side'
           WHEN $max_per_group > 0 AND group_rank > $max_per_group THEN 'duplicate_group'
       END AS reason
FROM by_group;
