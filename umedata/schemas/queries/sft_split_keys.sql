-- Leakage keys of each mixed pair (relation mixed, with its row number rid), as the TEMP table split_edges(rid, key):
-- pairs sharing any key end in one split.
--   side:   the query side itself (the same query content, whatever source or pair it came in)
--   media:  every query image, document page, video and video frame, by content hash
--   text:   the normalised query text: NFC, lower case, every run of characters that are neither letters nor
--           digits collapsed to one space (digits are kept: "3 circles" and "4 circles" differ)
-- $text_key decides which query texts link: 'text_only' = queries without media (their text is the content; an
-- image query's text is mostly a dataset-wide instruction, which would fuse a whole dataset into one group),
-- 'all' = every query, 'none' = no text key; 'minhash' = as 'text_only', plus the near-duplicate keys of
-- sft_split_keys_minhash.sql. Targets are not keys: a class label shared by many pairs is shared by
-- design.
CREATE OR REPLACE TEMP TABLE split_edges AS
SELECT rid, 'side:' || qry_side_id AS key FROM mixed
UNION ALL
SELECT rid, 'media:' || unnest(qry_media_keys) AS key FROM mixed
UNION ALL
SELECT rid, 'text:' || norm AS key
FROM (
    SELECT rid, qry_media_keys,
           trim(regexp_replace(lower(nfc_normalize(qry_text)), '[^\p{L}\p{N}]+', ' ', 'g')) AS norm
    FROM mixed
)
WHERE norm <> ''
  AND ($text_key = 'all' OR ($text_key IN ('text_only', 'minhash') AND len(qry_media_keys) = 0));
