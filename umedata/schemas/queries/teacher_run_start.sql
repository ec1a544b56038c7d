-- A teacher run (online, offline, Batch export or import) begins: its record, and the template text behind each
-- prompt_version it may use (first use wins).
-- Parameters: $run_id, $backend, $model, $status, $selection (JSON), $config (JSON, names of key variables only),
--             $host, $pid, $started_at, $alive_s (the run is live that long, until its first lease or heartbeat
--             extends it: it must be live before it selects, see 0009).
-- Relation supplied by the caller: new_prompts(prompt_version, name, text, first_used_at), possibly empty.
INSERT INTO teacher_runs (run_id, backend, model, status, selection, config, host, pid, started_at, alive_until)
VALUES ($run_id, $backend, $model, $status, $selection, $config, $host, $pid, $started_at,
        now() + to_microseconds(CAST($alive_s * 1e6 AS BIGINT)));

INSERT OR IGNORE INTO teacher_prompts BY NAME SELECT * FROM new_prompts;
