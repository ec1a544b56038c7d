-- Which teacher model and prompt version pass the quality gates best? (chosen checks version, all datasets)
-- duckdb -readonly warehouse/umedata.duckdb < warehouse/queries/checks_pass_rate_by_prompt.sql
SELECT model, prompt_version, sum(annotations) AS annotations, sum(passed) AS passed,
       round(sum(passed) / sum(annotations), 4) AS pass_rate
FROM checks_pass_rates
GROUP BY ALL
ORDER BY pass_rate, annotations DESC;
