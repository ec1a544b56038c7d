-- RL-set curation, step 4: within each stratum the top `quota` eligible pairs by score (ties by the seeded hash)
-- are selected, the rest are over_quota. Relation rl_quotas(dataset_name, modality, quota). Every candidate comes
-- back with its statistics and its decision (reason NULL = selected), for the version and for the report.
WITH ranked AS (
    SELECT e.*,
           CASE WHEN e.reason IS NULL
                THEN row_number() OVER (PARTITION BY e.dataset_name, e.modality, e.reason IS NULL
                                        ORDER BY e.score DESC, e.tie, e.pair_id)
           END AS stratum_rank
    FROM rl_eligible e
)
SELECT r.pair_id, r.dataset_name, r.modality, r.split_group, r.qry_side_id, r.pos_side_id,
       r.qry_annotation_id, r.pos_annotation_id,
       r.n_qry, r.mean_qry, r.var_qry, r.format_qry, r.n_pos, r.mean_pos, r.var_pos, r.format_pos,
       r.mean, r.score, r.stratum_rank,
       CASE WHEN r.reason IS NOT NULL THEN r.reason
            WHEN r.stratum_rank > coalesce(q.quota, 0) THEN 'over_quota'
       END AS reason
FROM ranked r
LEFT JOIN rl_quotas q ON q.dataset_name = r.dataset_name AND q.modality = r.modality;
