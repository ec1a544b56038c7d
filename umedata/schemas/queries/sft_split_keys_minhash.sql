-- Near-duplicate keys of text-only queries by MinHash LSH (text_key 'minhash'), added to sft_split_keys.sql's
-- split_edges. Relation mixed(rid, qry_text, qry_media_keys). Shingles are word 3-grams of the normalised text (the whole text
-- when it has fewer than three words); 32 hash functions h_i(x) = (a_i * x + b_i) mod (2^61 - 1) over a stable
-- 61-bit hash (md5) of each shingle; the minima form 8 bands of 4, and queries sharing any band share a key.
-- Pairs of texts above ~0.6 Jaccard similarity then land in one group with high probability, below ~0.3 rarely.
-- Every constant is fixed, so the same texts always give the same keys.
INSERT INTO split_edges
WITH texts AS (
    SELECT rid, string_split(norm, ' ') AS w
    FROM (
        SELECT rid, qry_media_keys,
               trim(regexp_replace(lower(nfc_normalize(qry_text)), '[^\p{L}\p{N}]+', ' ', 'g')) AS norm
        FROM mixed
    )
    WHERE norm <> '' AND len(qry_media_keys) = 0
),
starts AS (
    SELECT rid, w, unnest(range(1, greatest(len(w) - 1, 1) + 1)) AS i
    FROM texts
),
shingles AS (
    SELECT DISTINCT rid,
           (md5_number_lower(array_to_string(CASE WHEN len(w) < 3 THEN w ELSE w[i:i + 2] END, ' '))
               % 2305843009213693951)::HUGEINT AS x
    FROM starts
),
perms AS (
    SELECT f,
           (md5_number_lower('minhash-a:' || f) % 2305843009213693950 + 1)::HUGEINT AS a,
           (md5_number_lower('minhash-b:' || f) % 2305843009213693951)::HUGEINT AS b
    FROM range(32) t(f)
),
mins AS (
    SELECT s.rid, p.f, min((p.a * s.x + p.b) % 2305843009213693951) AS m
    FROM shingles s, perms p
    GROUP BY s.rid, p.f
)
SELECT rid, 'lsh:' || (f // 4) || ':' || md5(string_agg(m::VARCHAR, ',' ORDER BY f)) AS key
FROM mins
GROUP BY rid, f // 4;
