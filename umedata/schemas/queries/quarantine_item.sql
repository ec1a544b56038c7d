-- Everything recorded about quarantined items whose id starts with $prefix (two rows tell an ambiguous prefix).
SELECT * FROM quarantine WHERE starts_with(quarantine_id, $prefix) ORDER BY quarantine_id LIMIT 2;
