-- Every medium an eval-set directory uses (relation eval_sides from eval_export_sides.sql): sha256 and its path
-- relative to the media root.
WITH paths AS (
    SELECT unnest(images).path AS path FROM eval_sides
    UNION ALL SELECT unnest(video).path FROM eval_sides
)
SELECT DISTINCT regexp_extract(path, '[0-9a-f]{64}') AS sha256, path AS relpath
FROM paths
ORDER BY relpath;
