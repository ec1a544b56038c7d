-- Pass rates of the chosen checks version per dataset / modality / teacher (the report's bar chart).
SELECT * FROM checks_pass_rates ORDER BY dataset_name;
