-- Per run and model: what was asked, what came back, what it cost. Requests are counted in the run that finished
-- them (a key finished by an earlier run is not counted again).
CREATE OR REPLACE VIEW teacher_run_summary AS
SELECT r.run_id, r.model, r.backend,
       any_value(tr.started_at) AS started_at, any_value(tr.finished_at) AS finished_at,
       count(*) AS requests,
       count(*) FILTER (WHERE r.status = 'done' AND r.outcome = 'ok') AS ok,
       count(*) FILTER (WHERE r.status = 'done' AND r.outcome <> 'ok') AS bad_answers,
       count(*) FILTER (WHERE r.status = 'failed') AS failed,
       sum(r.attempts)::BIGINT AS attempts,
       sum(r.prompt_tokens)::BIGINT AS prompt_tokens,
       sum(r.completion_tokens)::BIGINT AS completion_tokens,
       sum(r.cost_usd) AS cost_usd,
       avg(r.latency_ms) AS mean_latency_ms,
       quantile_cont(r.latency_ms, 0.5) AS p50_latency_ms,
       quantile_cont(r.latency_ms, 0.95) AS p95_latency_ms
FROM teacher_requests r
LEFT JOIN teacher_runs tr ON tr.run_id = r.run_id
WHERE r.status IN ('done', 'failed')
GROUP BY r.run_id, r.model, r.backend;
