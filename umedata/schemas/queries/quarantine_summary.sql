-- Quarantined items per source / stage / reason (umedata quarantine list --summary).
SELECT source, stage, reason, count(*) AS n, min(created_at) AS first_seen, max(created_at) AS last_seen
FROM quarantine
GROUP BY ALL
ORDER BY n DESC, source, reason;
