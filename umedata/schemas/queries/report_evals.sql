-- Evaluations, by stage: the mean over eval sets of each set's headline metric.
SELECT stage, checkpoint, eval_sets, disc, gen, oracle, chance, gen_emb_share, finished_at
FROM eval_summary ORDER BY finished_at;
