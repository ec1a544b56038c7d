-- Every side the chosen eval sets ($names: VARCHAR[]) rank or are ranked by, once, with its media as references
-- into the media store, exactly as a dataset version's rows carry them (views/version_sides.sql).
WITH needed AS (
    SELECT side_id FROM eval_queries WHERE list_contains($names, eval_set)
    UNION
    SELECT side_id FROM eval_candidates WHERE list_contains($names, eval_set)
)
SELECT side_id, text, modality, images, video
FROM version_sides('needed')
ORDER BY side_id;
