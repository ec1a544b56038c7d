-- Pair-level difference between versions A and B (relations a_rows, b_rows with pair_id, dataset_name, modality,
-- split, qry_annotation_id, pos_annotation_id), counted per dataset, modality and kind of change:
-- added (only in B), removed (only in A), moved (other split), reannotated (other annotation on a side), same.
WITH d AS (
    SELECT coalesce(a.dataset_name, b.dataset_name) AS dataset_name,
           coalesce(a.modality, b.modality) AS modality,
           CASE
               WHEN a.pair_id IS NULL THEN 'added'
               WHEN b.pair_id IS NULL THEN 'removed'
               WHEN a.split <> b.split THEN 'moved'
               WHEN a.qry_annotation_id <> b.qry_annotation_id OR a.pos_annotation_id <> b.pos_annotation_id
                   THEN 'reannotated'
               ELSE 'same'
           END AS change
    FROM a_rows a
    FULL OUTER JOIN b_rows b ON a.pair_id = b.pair_id
)
SELECT dataset_name, modality, change, count(*) AS pairs
FROM d
GROUP BY dataset_name, modality, change
ORDER BY dataset_name, modality, change;
