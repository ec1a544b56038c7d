-- Every failed check of the chosen checks version with the annotation it failed, its side and where it came from:
-- "why was this row rejected" in one place (also listed by `umedata quarantine list --rule RULE`).
CREATE OR REPLACE VIEW checks_failures AS
SELECT c.annotation_id, c.rule, c.value, c.threshold, c.detail, c.checked_at, c.checks_version,
       a.side_id, a.model, a.prompt_version, a.request_key,
       coalesce(r.source, 'import:' || a.origin) AS source,
       coalesce(r.run_id, 'import:' || a.origin) AS batch_id,
       a.summary, a.reasoning
FROM annotation_checks c
JOIN checks_chosen v ON v.checks_version = c.checks_version
JOIN annotations a ON a.annotation_id = c.annotation_id
LEFT JOIN teacher_requests r ON r.request_key = a.request_key
WHERE NOT c.passed;
