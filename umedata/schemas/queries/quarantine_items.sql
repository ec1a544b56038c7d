-- The newest quarantined items, optionally of one reason / source / stage (umedata quarantine list).
SELECT quarantine_id[:12] AS id, source, stage, reason, what, detail, created_at
FROM quarantine
WHERE ($reason IS NULL OR reason = $reason)
  AND ($source IS NULL OR source = $source)
  AND ($stage IS NULL OR stage = $stage)
ORDER BY created_at DESC, what
LIMIT $limit;
