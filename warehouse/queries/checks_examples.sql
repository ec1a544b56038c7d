-- What do the annotations that failed a rule look like? Ten of them, with the measured value and the side's text.
-- Change the rule on the first line (any name from `umedata checks stats`).
-- duckdb -readonly warehouse/umedata.duckdb < warehouse/queries/checks_examples.sql
SET VARIABLE rule = 'repetition';
SELECT f.rule, round(f.value, 4) AS value, f.threshold, f.detail, f.source, s.text[:80] AS side_text,
       f.reasoning[:160] AS reasoning, f.summary[:80] AS summary
FROM checks_failures f
JOIN sides s ON s.side_id = f.side_id
WHERE f.rule = getvariable('rule')
ORDER BY f.value DESC
LIMIT 10;
