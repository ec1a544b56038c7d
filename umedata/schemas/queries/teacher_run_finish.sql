-- A teacher run ends: its status and counts. Parameters: $run_id, $status, $counts (JSON), $finished_at.
UPDATE teacher_runs SET status = $status, counts = $counts, finished_at = $finished_at WHERE run_id = $run_id;
