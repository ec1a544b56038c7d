-- The chosen checks version (the one chosen last; `umedata validate` chooses the version it ran, `umedata checks
-- use VERSION` goes back to another). No row: no quality gate has run, annotations are judged by format alone.
CREATE OR REPLACE VIEW checks_chosen AS
SELECT checks_version, config, tokenizer, tokenizer_path, created_at, chosen_at
FROM checks_versions
WHERE chosen_at IS NOT NULL
ORDER BY chosen_at DESC, checks_version
LIMIT 1;
