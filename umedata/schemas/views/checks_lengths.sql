-- Length and cost distributions per dataset and teacher model under the chosen checks version: reasoning and
-- summary lengths in student tokens, the repetition score, and what the teacher was paid per annotation.
CREATE OR REPLACE VIEW checks_lengths AS
WITH side_datasets AS (
    SELECT DISTINCT side_id, dataset_name FROM (
        SELECT qry_side_id AS side_id, dataset_name FROM pairs UNION ALL SELECT pos_side_id, dataset_name FROM pairs)
),
wide AS (
    SELECT c.annotation_id,
           max(c.value) FILTER (WHERE c.rule = 'long_reasoning') AS reasoning_tokens,
           max(c.value) FILTER (WHERE c.rule = 'long_summary') AS summary_tokens,
           max(c.value) FILTER (WHERE c.rule = 'repetition') AS repetition
    FROM annotation_checks c JOIN checks_chosen v ON v.checks_version = c.checks_version
    GROUP BY c.annotation_id
)
SELECT d.dataset_name, a.model, count(*) AS annotations,
       quantile_cont(w.reasoning_tokens, [0.05, 0.5, 0.95]) AS reasoning_tokens_p5_p50_p95,
       max(w.reasoning_tokens) AS reasoning_tokens_max,
       quantile_cont(w.summary_tokens, [0.05, 0.5, 0.95]) AS summary_tokens_p5_p50_p95,
       quantile_cont(w.repetition, [0.5, 0.95]) AS repetition_p50_p95,
       sum(r.completion_tokens)::BIGINT AS teacher_completion_tokens,
       round(sum(r.cost_usd), 6) AS cost_usd,
       round(sum(r.cost_usd) / count(*), 8) AS cost_usd_per_annotation
FROM wide w
JOIN annotations a ON a.annotation_id = w.annotation_id
JOIN side_datasets d ON d.side_id = a.side_id
LEFT JOIN teacher_requests r ON r.request_key = a.request_key
GROUP BY ALL;
