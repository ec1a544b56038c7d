-- What an SFT selection is made of, summed cheaply (no sort, no row assembled): the selected pair ids (relation
-- selected_pairs) and every validated annotation (id, side, teacher, prompt version, created_at - a reparse
-- rewrites an annotation under its id with a new created_at). Each part: its rows and two 64-bit hash sums, which
-- do not depend on row order. Pairs, sides and media are content-addressed, so their ids stand for their content;
-- which annotation a side uses follows from the validated ones and the preference. Taking every validated
-- annotation, not only those of the selected sides, costs one scan instead of a join: a teacher annotating
-- anything makes the next build of the selection assemble its rows again (same rows give the same id).
SELECT 'pairs' AS part, count(*) AS n,
       coalesce(sum(hash(pair_id)::HUGEINT), 0) AS h1,
       coalesce(sum(hash(pair_id, 'umedata')::HUGEINT), 0) AS h2
FROM selected_pairs
UNION ALL
SELECT 'annotations', count(*),
       coalesce(sum(hash(annotation_id, side_id, model, prompt_version, created_at)::HUGEINT), 0),
       coalesce(sum(hash(created_at, prompt_version, model, side_id, annotation_id, 'umedata')::HUGEINT), 0)
FROM validated_annotations
ORDER BY part;
