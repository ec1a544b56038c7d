-- The chosen checks version with its settings (one row, or none when no gate has run).
SELECT checks_version, config, tokenizer, tokenizer_path, chosen_at FROM checks_chosen;
