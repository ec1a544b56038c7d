-- The newest quarantined items, optionally of one reason / source / stage (umedata quarantine list), beside the
-- failed checks of the chosen checks version (view checks_quarantine: stage 'checks', the rule as reason).
-- $rule: only failed checks of this rule.
SELECT quarantine_id[:12] AS id, source, stage, reason, what, detail, created_at
FROM (SELECT * FROM quarantine UNION ALL SELECT * FROM checks_quarantine)
WHERE ($reason IS NULL OR reason = $reason)
  AND ($source IS NULL OR source = $source)
  AND ($stage IS NULL OR stage = $stage)
  AND ($rule IS NULL OR (stage = 'checks' AND reason = $rule))
ORDER BY created_at DESC, what
LIMIT $limit;
