-- The content id of a registered eval set (no row: not registered). Parameter: $name.
SELECT content_id FROM eval_sets WHERE name = $name;
