-- Writer: has this staged batch been committed already (a crash after COMMIT, before the folder was removed)?
SELECT counts FROM committed_batches WHERE batch_id = $batch_id;
