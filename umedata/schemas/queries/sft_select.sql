-- Default selection of an SFT set: which pairs are candidates, by dataset, modality, task, source and source split.
-- Parameters (an empty list means "any"): $datasets, $modalities, $tasks, $sources, $source_splits.
-- A custom selection (`build-sft-set --query FILE.sql`) is any query over the warehouse that returns a pair_id
-- column; it may use the same parameters. Annotation, split and mix rules apply after it, the same for every query.
SELECT p.pair_id
FROM pairs p
WHERE (len($datasets) = 0 OR list_contains($datasets, p.dataset_name))
  AND (len($modalities) = 0 OR list_contains($modalities, p.modality))
  AND (len($tasks) = 0 OR list_contains($tasks, p.task))
  AND (len($sources) = 0 OR list_contains($sources, p.source))
  AND (len($source_splits) = 0 OR list_contains($source_splits, p.split));
