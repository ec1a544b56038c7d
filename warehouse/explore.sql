-- Saved exploration queries. Run one with `umedata sql "$(cat ...)"`, or paste into `.venv/bin/duckdb -readonly
-- warehouse/umedata.duckdb` (the shell reads the same file; it does not retry, so run it between commits).

-- Which targets are shared most (class labels): annotating them once is the biggest saving.
SELECT text, modality, as_target, as_query FROM side_usage ORDER BY as_target DESC LIMIT 20;

-- Pairs per dataset and how many have both sides annotated.
SELECT * FROM dataset_summary ORDER BY source, dataset_name, split;

-- Why rows were refused, per source.
SELECT source, stage, reason, count(*) AS n FROM quarantine GROUP BY ALL ORDER BY n DESC;

-- Teacher spend and outcomes per model.
SELECT * FROM teacher_model_summary;

-- Longest and shortest validated reasoning per dataset (outliers are worth reading).
SELECT p.dataset_name, max(length(a.reasoning)) AS longest, min(length(a.reasoning)) AS shortest,
       round(avg(length(a.reasoning))) AS mean_chars
FROM pairs p JOIN validated_annotations a ON a.side_id = p.qry_side_id
GROUP BY ALL ORDER BY mean_chars DESC;

-- Dataset versions and the training runs on them.
SELECT v.version_id[:12] AS version, v.name, r.run_id, r.disc, r.gen, r.chance
FROM dataset_versions v LEFT JOIN training_run_summary r ON r.version = v.version_id[:12];
