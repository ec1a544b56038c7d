-- Which versions a reference names: a version id or id prefix (how = 0), else a build name (how = 1, the latest
-- build of a registered, not dropped, version first).
WITH by_id AS (
    SELECT version_id, 0 AS how, NULL::TIMESTAMP AS last_built
    FROM dataset_versions
    WHERE starts_with(version_id, $ref)
),
by_name AS (
    SELECT b.version_id, 1 AS how, max(b.built_at) AS last_built
    FROM dataset_version_builds b
    JOIN dataset_versions v ON v.version_id = b.version_id
    WHERE b.name = $ref AND v.dropped_at IS NULL
    GROUP BY b.version_id
)
SELECT * FROM by_id
UNION ALL
SELECT * FROM by_name
ORDER BY how, last_built DESC NULLS LAST, version_id;
