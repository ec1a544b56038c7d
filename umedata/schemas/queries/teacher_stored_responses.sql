-- Stored raw responses to re-derive annotations from (`reparse`), one page at a time (keyset on request_key).
-- Parameters: $model, $prompt_version (NULL = all), $after (request_key to start after), $page (rows).
SELECT r.request_key, r.side_id, r.source, r.model, r.prompt_version, r.backend, r.endpoint, r.outcome,
       r.finish_reason, resp.body
FROM teacher_requests_done r
JOIN teacher_responses resp ON resp.request_key = r.request_key
WHERE r.status = 'done'
  AND ($model IS NULL OR r.model = $model)
  AND ($prompt_version IS NULL OR r.prompt_version = $prompt_version)
  AND r.request_key > $after
ORDER BY r.request_key
LIMIT $page;
