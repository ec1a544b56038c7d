-- Candidates per dataset (relation candidates, sft_candidates.sql): what the mix's quotas are computed from.
SELECT dataset_name, count(*) AS pairs FROM candidates GROUP BY dataset_name ORDER BY dataset_name;
