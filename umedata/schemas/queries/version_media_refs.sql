-- Every medium a version uses (relation version_rows): sha256 and its path relative to the media root.
WITH paths AS (
    SELECT unnest(qry_images).path AS path FROM version_rows
    UNION ALL SELECT unnest(pos_images).path FROM version_rows
    UNION ALL SELECT unnest(qry_video).path FROM version_rows
    UNION ALL SELECT unnest(pos_video).path FROM version_rows
    UNION ALL SELECT unnest(n.images).path FROM (SELECT unnest(negatives) AS n FROM version_rows)
    UNION ALL SELECT unnest(n.video).path FROM (SELECT unnest(negatives) AS n FROM version_rows)
)
SELECT DISTINCT regexp_extract(path, '[0-9a-f]{64}') AS sha256, path AS relpath
FROM paths
ORDER BY relpath;
