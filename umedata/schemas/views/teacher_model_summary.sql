-- Per model and prompt version, over all runs: coverage, quality of answers, tokens and cost.
CREATE OR REPLACE VIEW teacher_model_summary AS
SELECT model, prompt_version,
       count(*) FILTER (WHERE status IN ('done', 'failed')) AS finished,
       count(*) FILTER (WHERE status = 'done' AND outcome = 'ok') AS ok,
       count(*) FILTER (WHERE status = 'done' AND outcome <> 'ok') AS bad_answers,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status IN ('leased', 'exported')) AS in_progress,
       round(count(*) FILTER (WHERE status = 'done' AND outcome = 'ok')
             / nullif(count(*) FILTER (WHERE status IN ('done', 'failed')), 0), 4) AS ok_rate,
       sum(attempts)::BIGINT AS attempts,
       sum(prompt_tokens)::BIGINT AS prompt_tokens,
       sum(completion_tokens)::BIGINT AS completion_tokens,
       sum(cost_usd) AS cost_usd,
       avg(latency_ms) AS mean_latency_ms
FROM teacher_requests
GROUP BY model, prompt_version;
