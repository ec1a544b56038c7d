-- The registered eval sets an eval-set directory carries ($names: VARCHAR[]; empty = every set), by name.
SELECT name, layout, category, metric, content_id, n_queries, n_lists, n_candidates, licence, provenance
FROM eval_sets
WHERE len($names) = 0 OR list_contains($names, name)
ORDER BY name;
