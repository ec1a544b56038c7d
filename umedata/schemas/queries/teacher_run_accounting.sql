-- One run's tokens, cost and latency per model (the teacher_run_summary view), for its report.
-- Parameter: $run_id.
SELECT * FROM teacher_run_summary WHERE run_id = $run_id ORDER BY model;
