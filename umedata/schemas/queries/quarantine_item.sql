-- Everything recorded about quarantined items whose id starts with $prefix (two rows tell an ambiguous prefix);
-- failed checks of the chosen checks version included.
SELECT * FROM (SELECT * FROM quarantine UNION ALL SELECT * FROM checks_quarantine)
WHERE starts_with(quarantine_id, $prefix) ORDER BY quarantine_id LIMIT 2;
