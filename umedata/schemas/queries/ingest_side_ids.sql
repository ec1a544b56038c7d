-- ids.side_id(text, media) of every row of the Arrow table the caller registers as side_ids_input(text, media):
-- the bytes umedata/ids.py hashes (parts joined by chr(31), media hashes by ','), a column at a time.
-- Arguments must be non-null: concat would hash NULL as an empty string.
SELECT left(sha256(concat('side', chr(31), text, chr(31), array_to_string(media, ','))), $id_hex) AS id
FROM side_ids_input
