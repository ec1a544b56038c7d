-- RL-set curation, step 4: within each stratum the top `quota` eligible pairs in the order of step 2 (score, tie,
-- pair_id, descending) are selected, the rest are over_quota. Relation rl_quotas(dataset_name, modality, quota);
-- $max_quota is the largest quota. The top of each stratum comes from a bounded top-n aggregate (arg_max with n),
-- not a sort of every eligible pair. Every candidate comes back with its statistics and its decision (reason NULL =
-- selected; stratum_rank 1.. for the selected), for the version and for the report.
WITH top AS (
    SELECT dataset_name, modality,
           arg_max(pair_id, {'score': score, 'tie': tie, 'pair_id': pair_id}, $max_quota) AS ids
    FROM rl_eligible
    WHERE reason IS NULL AND $max_quota > 0
    GROUP BY dataset_name, modality
),
ranked AS (
    SELECT dataset_name, modality, unnest(ids) AS pair_id, generate_subscripts(ids, 1) AS stratum_rank
    FROM top
),
chosen AS (
    SELECT r.pair_id, r.stratum_rank
    FROM ranked r
    JOIN rl_quotas q ON q.dataset_name = r.dataset_name AND q.modality = r.modality
    WHERE r.stratum_rank <= q.quota
)
SELECT e.* EXCLUDE (tie, reason), c.stratum_rank,
       CASE
           WHEN e.reason IS NOT NULL THEN e.reason
           WHEN c.pair_id IS NULL THEN 'over_quota'
       END AS reason
FROM rl_eligible e
LEFT JOIN chosen c ON c.pair_id = e.pair_id;
