-- Remove an eval set's rows before its changed content lands (umedata/evals/ingest.py). Its sides and media stay:
-- they are content, possibly shared. Parameter: $name.
DELETE FROM eval_queries WHERE eval_set = $name;
DELETE FROM eval_candidates WHERE eval_set = $name;
DELETE FROM eval_qrels WHERE eval_set = $name;
DELETE FROM eval_sets WHERE name = $name;
