-- Every dataset whose pairs use an annotation's side (as query or target); per-dataset thresholds apply through it.
-- Relation supplied by the caller: page_ids(annotation_id, side_id).
SELECT DISTINCT pi.annotation_id, p.dataset_name
FROM page_ids pi
JOIN pairs p ON p.qry_side_id = pi.side_id OR p.pos_side_id = pi.side_id;
