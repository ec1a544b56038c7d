-- Leave out of the TEMP table kept the pairs listed in relation excluded_pairs(pair_id) (eval-set contamination,
-- umedata/versions/decontam.py).
DELETE FROM kept WHERE pair_id IN (SELECT pair_id FROM excluded_pairs);
