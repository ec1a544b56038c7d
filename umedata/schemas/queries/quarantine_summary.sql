-- Quarantined items per source / stage / reason (umedata quarantine list --summary), failed checks of the chosen
-- checks version included (stage 'checks').
SELECT source, stage, reason, count(*) AS n, min(created_at) AS first_seen, max(created_at) AS last_seen
FROM (SELECT * FROM quarantine UNION ALL SELECT * FROM checks_quarantine)
GROUP BY ALL
ORDER BY n DESC, source, reason;
