-- A key that failed (HTTP error, timeout) and was later answered well is no longer a problem: drop the stale
-- quarantine rows, or validated_annotations would keep hiding its annotation.
DELETE FROM quarantine
WHERE stage = 'teacher'
  AND what IN (SELECT request_key FROM teacher_requests WHERE status = 'done' AND outcome = 'ok');
