-- Failed checks of the chosen checks version shaped like quarantine rows (stage 'checks', the rule as reason), so
-- `umedata quarantine list` shows them beside what ingest and the teacher refused. Nothing is copied: a threshold
-- change (a new chosen version) changes this list at once.
CREATE OR REPLACE VIEW checks_quarantine AS
SELECT md5(f.annotation_id || ':' || f.rule || ':' || f.checks_version) AS quarantine_id,
       f.source, 'checks' AS stage, f.annotation_id AS what, f.rule AS reason,
       'value ' || coalesce(CAST(round(f.value, 4) AS VARCHAR), 'null')
           || CASE WHEN r.op = 'max' THEN ' > max ' ELSE ' < min ' END || CAST(round(f.threshold, 4) AS VARCHAR)
           || coalesce('; ' || f.detail, '') AS detail,
       f.checked_at AS created_at
FROM checks_failures f
JOIN checks_rules r ON r.checks_version = f.checks_version AND r.rule = f.rule;
