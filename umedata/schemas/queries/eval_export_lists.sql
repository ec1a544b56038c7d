-- Candidate lists of the chosen eval sets ($names: VARCHAR[]): one row per (list, position).
SELECT eval_set, list_id, position, side_id
FROM eval_candidates
WHERE list_contains($names, eval_set)
ORDER BY eval_set, list_id, position;
