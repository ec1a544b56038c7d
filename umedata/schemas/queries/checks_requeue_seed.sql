-- The first sampling seed none of the chosen sides has been asked with by $model: a requeue with it gives every
-- chosen side a request key it has never had.
-- Parameters: $model. Relation supplied by the caller: chosen_sides(side_id).
SELECT coalesce(max(TRY_CAST(json_extract_string(params, '$.sampling.seed') AS BIGINT)), -1) + 1 AS seed
FROM teacher_requests
WHERE model = $model AND side_id IN (SELECT side_id FROM chosen_sides);
