-- Graded relevance of the chosen eval sets ($names: VARCHAR[]).
SELECT eval_set, query_id, side_id, grade
FROM eval_qrels
WHERE list_contains($names, eval_set)
ORDER BY eval_set, query_id, side_id;
