"""The column-at-a-time ids of the ingest core are exactly umedata.ids, and the known-pair lookup is exact."""

from __future__ import annotations

import hashlib

import pyarrow as pa

from umedata import ids
from umedata.ingest.content_ids import Hasher
from umedata.ingest.dedup import is_known

TEXTS = ["", "plain", "ünïcödé ✓ 猫", "emoji 🐈‍⬛", "tab\tnew\nline", "sep\x1finside", "comma,inside"]
MEDIA = [[], ["a" * 64], ["b" * 64, "c" * 64]]


def test_vectorised_ids_equal_the_reference_functions():
    h = Hasher()
    try:
        texts = pa.array([t for t in TEXTS for _ in MEDIA], pa.string())
        media = pa.array([m for _ in TEXTS for m in MEDIA], pa.list_(pa.string()))
        got = h.side_ids(texts, media).to_pylist()
        assert got == [ids.side_id(t, m) for t, m in zip(texts.to_pylist(), media.to_pylist())]
        n = len(got)
        negs = pa.array([[got[(i + 1) % n]] if i % 2 else [] for i in range(n)], pa.list_(pa.string()))
        pairs = h.pair_ids(
            "src ✓", texts, pa.array(["train"] * n), pa.array(got), pa.array(got[::-1]), negs
        ).to_pylist()
        assert pairs == [
            ids.pair_id("src ✓", t, "train", q, p, ng)
            for t, q, p, ng in zip(texts.to_pylist(), got, got[::-1], negs.to_pylist())
        ]
        assert h.side_ids(pa.array([], pa.string()), pa.array([], pa.list_(pa.string()))).to_pylist() == []
    finally:
        h.close()


def test_known_ids_are_matched_exactly():
    known = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(1000)]
    k = pa.chunked_array([known[:400], known[400:]])
    probe = known[::7] + [hashlib.sha256(f"new{i}".encode()).hexdigest() for i in range(50)]
    assert is_known(pa.array(probe), k).tolist() == [p in set(known) for p in probe]
    # Same first 64 bits, different id: not known (and the real one still is).
    twin = known[3][:16] + ("0" if known[3][16] != "0" else "1") + known[3][17:]
    assert is_known(pa.array([twin, known[3]]), k).tolist() == [False, True]
    assert not is_known(pa.array(known[:3]), pa.array([], pa.string())).any()
