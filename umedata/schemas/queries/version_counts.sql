-- Pairs per dataset, modality and split of a version (relation version_rows).
SELECT dataset_name, modality, split, count(*) AS pairs
FROM version_rows
GROUP BY dataset_name, modality, split
ORDER BY dataset_name, modality, split;
