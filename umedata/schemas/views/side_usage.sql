-- How many pairs use each side, as query or target: the repeated targets (class labels) are the cost lever.
CREATE OR REPLACE VIEW side_usage AS
SELECT s.side_id, s.modality, s.text, len(s.media) AS n_media,
       count(*) FILTER (WHERE u.role = 'qry') AS as_query,
       count(*) FILTER (WHERE u.role = 'pos') AS as_target,
       count(*) FILTER (WHERE u.role = 'neg') AS as_negative
FROM sides s
JOIN (
    SELECT qry_side_id AS side_id, 'qry' AS role FROM pairs
    UNION ALL SELECT pos_side_id, 'pos' FROM pairs
    UNION ALL SELECT unnest(negatives), 'neg' FROM pairs
) u USING (side_id)
GROUP BY s.side_id, s.modality, s.text, n_media;
