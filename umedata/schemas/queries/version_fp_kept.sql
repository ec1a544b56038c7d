-- What a version's kept pairs are made of (relation kept: pair_id, split, split_group, qry_annotation_id,
-- pos_annotation_id), summed cheaply: rows and two 64-bit hash sums over each kept row with the created_at of its
-- two annotations (a reparse rewrites an annotation under its id with a new created_at). Independent of row order.
SELECT count(*) AS n,
       coalesce(sum(hash(k.pair_id, k.split, k.split_group, k.qry_annotation_id, qa.created_at,
                         k.pos_annotation_id, pa.created_at)::HUGEINT), 0) AS h1,
       coalesce(sum(hash(pa.created_at, k.pos_annotation_id, qa.created_at, k.qry_annotation_id, k.split_group,
                         k.split, k.pair_id, 'umedata')::HUGEINT), 0) AS h2
FROM kept k
LEFT JOIN annotations qa ON qa.annotation_id = k.qry_annotation_id
LEFT JOIN annotations pa ON pa.annotation_id = k.pos_annotation_id;
