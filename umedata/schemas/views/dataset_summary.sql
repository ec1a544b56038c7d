-- Pairs per dataset with the share of sides already annotated (any model) and quarantine counts per source.
CREATE OR REPLACE VIEW dataset_summary AS
WITH annotated AS (SELECT DISTINCT side_id FROM annotations WHERE format_status = 'ok')
SELECT p.source, p.dataset_name, p.modality, p.task, p.split,
       count(*) AS pairs,
       count(DISTINCT p.qry_side_id) + count(DISTINCT p.pos_side_id) AS sides,
       count(*) FILTER (WHERE aq.side_id IS NOT NULL AND ap.side_id IS NOT NULL) AS pairs_fully_annotated
FROM pairs p
LEFT JOIN annotated aq ON aq.side_id = p.qry_side_id
LEFT JOIN annotated ap ON ap.side_id = p.pos_side_id
GROUP BY ALL;
