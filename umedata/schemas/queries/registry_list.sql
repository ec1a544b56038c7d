-- Registered versions, oldest first; dropped ones only when $include_dropped.
SELECT v.version_id, v.name, v.kind, v.n_rows, v.splits, v.format_version, v.parents, v.path,
       v.registered_at, v.dropped_at,
       list(DISTINCT b.name ORDER BY b.name) FILTER (WHERE b.name IS NOT NULL) AS names,
       count(b.build_id) AS builds, max(b.built_at) AS last_built_at
FROM dataset_versions v
LEFT JOIN dataset_version_builds b ON b.version_id = v.version_id
WHERE $include_dropped OR v.dropped_at IS NULL
GROUP BY ALL
ORDER BY v.registered_at, v.version_id;
