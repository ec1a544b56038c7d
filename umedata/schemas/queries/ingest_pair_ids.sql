-- ids.pair_id(source, dataset, split, qry, pos, negatives) of every row of the Arrow table the caller registers as
-- pair_ids_input(dataset, split, qry, pos, negatives): the bytes umedata/ids.py hashes, a column at a time.
-- Arguments must be non-null: concat would hash NULL as an empty string.
SELECT left(sha256(concat('pair', chr(31), $source, chr(31), dataset, chr(31), split, chr(31), qry, chr(31), pos,
                          chr(31), array_to_string(negatives, ','))), $id_hex) AS id
FROM pair_ids_input
