-- Why requests ended as they did, per model: ok, each kind of bad answer, each kind of failure.
CREATE OR REPLACE VIEW teacher_outcomes AS
SELECT model, status, coalesce(outcome, error_kind) AS reason, count(*) AS n,
       sum(attempts)::BIGINT AS attempts, sum(cost_usd) AS cost_usd
FROM (
    SELECT *, CASE WHEN status = 'failed' THEN split_part(coalesce(error, 'unknown'), ':', 1) END AS error_kind
    FROM teacher_requests
)
WHERE status IN ('done', 'failed')
GROUP BY ALL;
