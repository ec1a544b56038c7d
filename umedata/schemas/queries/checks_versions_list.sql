-- Every checks version with how many annotations it checked and passed (`umedata checks versions`).
SELECT v.checks_version, v.chosen_at, v.created_at, v.tokenizer,
       count(DISTINCT c.annotation_id) AS checked,
       count(DISTINCT c.annotation_id) FILTER (WHERE NOT c.passed) AS failed,
       v.checks_version = (SELECT checks_version FROM checks_chosen) AS chosen
FROM checks_versions v
LEFT JOIN annotation_checks c ON c.checks_version = v.checks_version
GROUP BY ALL
ORDER BY v.created_at DESC;
