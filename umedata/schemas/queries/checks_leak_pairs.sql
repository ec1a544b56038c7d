-- The pairs each annotation of a page is the query side of, with the paired target's text, the query's own text
-- and how many media the query carries (the leak rule looks for the target text in the query's reasoning and
-- summary, pair by pair).
-- Relation supplied by the caller: page_ids(annotation_id, side_id).
SELECT pi.annotation_id, p.pair_id, t.text AS target_text, q.text AS qry_text, len(q.media) AS qry_media
FROM page_ids pi
JOIN pairs p ON p.qry_side_id = pi.side_id
JOIN sides t ON t.side_id = p.pos_side_id
JOIN sides q ON q.side_id = p.qry_side_id;
