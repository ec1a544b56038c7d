-- RL-set curation, step 3: eligible pairs per stratum (dataset, modality), for the quota allocation.
SELECT dataset_name, modality, count(*) AS eligible
FROM rl_eligible
WHERE reason IS NULL
GROUP BY dataset_name, modality
ORDER BY dataset_name, modality;
