-- Every medium a build's rows show, from its sides piece (the parquet files $glob, sft_rows_sides.sql: queries,
-- targets and negatives), with the file the warehouse keeps it in (what the build copies into the media store
-- when the store lacks it), written to $path; returns how many. As version_media_refs.sql + version_media_sources.sql
-- over the rows, without reading the rows back.
COPY (
WITH paths AS (
    SELECT unnest(images).path AS path FROM read_parquet($glob)
    UNION ALL
    SELECT unnest(video).path FROM read_parquet($glob)
),
refs AS (
    SELECT DISTINCT regexp_extract(path, '[0-9a-f]{64}') AS sha256, path AS relpath FROM paths
)
SELECT r.sha256, r.relpath, m.path AS source_path
FROM refs r
LEFT JOIN media m ON m.sha256 = r.sha256
ORDER BY r.relpath
) TO $path (FORMAT parquet);

SELECT count(*) AS media FROM read_parquet($path);
