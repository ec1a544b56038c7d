-- One row per pair with both sides' text and media counts: the first thing to look at after an ingest.
CREATE OR REPLACE VIEW pair_overview AS
SELECT p.pair_id, p.source, p.dataset_name, p.modality, p.task, p.split,
       q.text AS qry_text, len(q.media) AS qry_media, t.text AS pos_text, len(t.media) AS pos_media,
       len(p.negatives) AS n_negatives
FROM pairs p
JOIN sides q ON q.side_id = p.qry_side_id
JOIN sides t ON t.side_id = p.pos_side_id;
