-- What each stage of the loop holds and refused (the pipeline's closing table).
SELECT
    (SELECT count(*) FROM pairs) AS pairs,
    (SELECT count(*) FROM sides) AS sides,
    (SELECT count(*) FROM media) AS media,
    (SELECT count(*) FROM eval_sets) AS eval_sets,
    (SELECT count(*) FROM eval_queries) AS eval_queries,
    (SELECT count(*) FROM annotations) AS annotations,
    (SELECT count(*) FROM teacher_requests) AS teacher_requests,
    (SELECT count(*) FROM validated_annotations) AS validated,
    (SELECT count(*) FROM rollouts) AS rollouts,
    (SELECT count(*) FROM rollout_rewards) AS rewards,
    (SELECT count(*) FROM dataset_versions WHERE dropped_at IS NULL) AS versions,
    (SELECT count(*) FROM quarantine WHERE stage = 'ingest') AS q_ingest,
    (SELECT count(*) FROM quarantine WHERE stage = 'eval_ingest') AS q_eval,
    (SELECT count(*) FROM quarantine WHERE stage = 'teacher') AS q_teacher,
    (SELECT count(*) FROM checks_quarantine) AS q_checks,
    (SELECT count(*) FROM quarantine WHERE stage IN ('rollouts', 'rewards')) AS q_rollouts;
