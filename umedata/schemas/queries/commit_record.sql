-- Writer: the batch id, in the same transaction as its rows.
INSERT INTO committed_batches VALUES ($batch_id, now(), $counts);
