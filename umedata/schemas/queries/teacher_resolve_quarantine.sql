-- A key that failed (HTTP error, timeout) and was later answered well is no longer a problem: drop the stale
-- quarantine rows, or validated_annotations would keep hiding its annotation. The result commit does this for the
-- keys it lands (teacher_finish.sql); this catches the rest (answers landed before that, reparses) once per run.
-- Written from the quarantine side, so the hash table holds the few teacher quarantine rows, not every request.
DELETE FROM quarantine q
WHERE q.stage = 'teacher'
  AND EXISTS (SELECT 1 FROM teacher_requests_done d WHERE d.request_key = q.what AND d.outcome = 'ok');
