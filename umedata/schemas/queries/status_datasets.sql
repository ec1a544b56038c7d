-- Pairs and distinct sides per dataset / modality / split (umedata status).
SELECT p.dataset_name, p.modality, p.split,
       count(*) AS pairs,
       count(DISTINCT p.qry_side_id) AS qry_sides,
       count(DISTINCT p.pos_side_id) AS pos_sides
FROM pairs p
GROUP BY ALL
ORDER BY p.dataset_name, p.modality, p.split;
