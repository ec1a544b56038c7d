-- THE status of an annotation for dataset building: validated = parsed cleanly and not quarantined.
-- Later quality gates extend this one view (add a NOT EXISTS over their verdicts) rather than adding a second
-- notion of "good"; every dataset build reads annotations through it.
-- A quarantine row refers to an annotation by its annotation_id or by the request_key that produced it.
CREATE OR REPLACE VIEW validated_annotations AS
SELECT a.*
FROM annotations a
WHERE a.format_status = 'ok'
  AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.what = a.annotation_id)
  AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE a.request_key IS NOT NULL AND q.what = a.request_key);
