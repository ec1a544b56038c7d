-- Apply re-derived verdicts for one page of stored responses, in one transaction (`reparse`).
-- Relations supplied by the caller:
--   reparsed(request_key, outcome)                 every key of the page with its new outcome
--   new_annotations(<annotations columns>)         the keys whose answer is now usable
--   new_quarantine(<quarantine columns>)           the keys whose answer is now a bad answer
-- annotations is keyed through natural_keys (no index), so an upsert is a delete then an insert.
DELETE FROM annotations
WHERE request_key IN (SELECT request_key FROM reparsed WHERE outcome <> 'ok')
   OR annotation_id IN (SELECT annotation_id FROM new_annotations);

INSERT INTO annotations BY NAME SELECT * FROM new_annotations;

DELETE FROM quarantine
WHERE stage = 'teacher'
  AND what IN (SELECT request_key FROM reparsed)
  AND quarantine_id NOT IN (SELECT quarantine_id FROM new_quarantine);

INSERT OR IGNORE INTO quarantine BY NAME SELECT * FROM new_quarantine;

UPDATE teacher_requests_done SET outcome = r.outcome
FROM reparsed r
WHERE teacher_requests_done.request_key = r.request_key;
