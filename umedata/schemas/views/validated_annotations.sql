-- THE status of an annotation for dataset building: validated = parsed cleanly, not quarantined, and, once a
-- quality gate has run, every enabled rule of the chosen checks version passed (checks_verdicts). An annotation
-- the chosen version has not checked yet (it arrived after the last `umedata validate`) is not validated until a
-- validate checks it. Without a chosen version (no gate has run) the format alone decides, as before.
-- Every dataset build reads annotations through this one view.
-- A quarantine row refers to an annotation by its annotation_id or by the request_key that produced it.
CREATE OR REPLACE VIEW validated_annotations AS
SELECT a.*
FROM annotations a
WHERE a.format_status = 'ok'
  AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.what = a.annotation_id)
  AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE a.request_key IS NOT NULL AND q.what = a.request_key)
  AND (NOT EXISTS (SELECT 1 FROM checks_chosen)
       OR a.annotation_id IN (SELECT annotation_id FROM checks_verdicts WHERE passed));
