-- Queries of the chosen eval sets ($names: VARCHAR[]), in canonical order.
SELECT eval_set, query_id, side_id, list_id
FROM eval_queries
WHERE list_contains($names, eval_set)
ORDER BY eval_set, query_id;
