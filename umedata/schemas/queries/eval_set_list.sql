-- Registered eval sets, by category then name.
SELECT name, category, metric, layout, n_queries, n_lists, n_candidates, content_id, licence, path, registered_at
FROM eval_sets
ORDER BY category, name;
