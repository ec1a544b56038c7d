"""Streamed builds: the id folded batch by batch equals content_id over the rows in memory; rows assembled from
bucketed pieces equal those sft_rows.sql defines in one statement; shards written batch by batch are byte for byte
those write_shards makes; a rebuild of an unchanged selection is decided by fingerprint before any row is
assembled, and a change that alters the rows (a reparse, an eval set, the gate) is not skipped."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from test_versions_data import NOW, basic_world, world  # noqa: F401  (fixture)

from umedata import sql, tables
from umedata.format import FORMAT_VERSION
from umedata.versions import SftSpec, build_sft_set, builds, fingerprint, read_manifest, read_rows, verify
from umedata.versions import assemble as assemble_mod
from umedata.versions import select as select_mod
from umedata.versions.build import build_version
from umedata.versions.content import ROW_SCHEMA, ContentHasher, conform, content_id, streamed_id
from umedata.versions.store import ShardWriter, VersionStore, iter_rows, write_shards


@pytest.fixture
def built(warehouse, world):  # noqa: F811
    basic_world(world)
    world.commit(warehouse)
    return warehouse, world


def _shards(d: str | Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(Path(d, "data").glob("*.parquet"))}


def test_streamed_id_equals_the_in_memory_id_for_any_batching(built, tmp_path):
    wh, _ = built
    r = build_sft_set(wh, SftSpec(eval_fraction=0.3))
    rows = read_rows(r.path)
    assert rows.num_rows > 10 and content_id(rows) == r.version_id
    # nulls and empty lists the world lacks: a null summary, a null media list, a null negatives list
    nulls = rows.to_pylist()
    nulls[1]["qry_summary"] = None
    nulls[2]["pos_images"] = None
    nulls[3]["negatives"] = None
    nulls[4]["qry_text"] = ""
    variants = [rows, conform(pa.Table.from_pylist(nulls, schema=ROW_SCHEMA))]
    for table in variants:
        want = content_id(table)
        for size in (1, 3, 7, 8, 9, 64):
            hasher = ContentHasher(str(tmp_path))
            for b in table.to_batches(max_chunksize=size):
                hasher.add(b)
            assert hasher.hexdigest() == want, size
    assert content_id(variants[1]) != r.version_id  # the variant is other content
    # the version's own shards, streamed: the id verify recomputes
    assert streamed_id(iter_rows(r.path, batch_rows=5)) == (r.version_id, rows.num_rows)


def test_rows_out_of_order_are_refused(built):
    wh, _ = built
    rows = read_rows(build_sft_set(wh, SftSpec(eval_fraction=0.3)).path)
    hasher = ContentHasher()
    with pytest.raises(ValueError, match="canonical order"):
        hasher.add(rows.take(pa.array(list(range(rows.num_rows))[::-1])))
    hasher = ContentHasher()
    hasher.add(rows.slice(5, 5))
    with pytest.raises(ValueError, match="canonical order"):
        hasher.add(rows.slice(0, 5))  # an earlier batch after a later one


def test_shard_writer_writes_the_bytes_write_shards_writes(built, tmp_path):
    wh, _ = built
    rows = read_rows(build_sft_set(wh, SftSpec(eval_fraction=0.3)).path)
    store = VersionStore(str(tmp_path))
    whole, streamed = str(tmp_path / "whole"), str(tmp_path / "streamed")
    want = write_shards(rows, store.fs, whole, rows_per_shard=7, row_group_size=3)
    writer = ShardWriter(store.fs, streamed, rows_per_shard=7, row_group_size=3)
    for b in rows.to_batches(max_chunksize=4):  # batch edges fall anywhere inside shards and row groups
        writer.add(b)
    assert writer.close() == want
    assert _shards(streamed) == _shards(whole) and len(_shards(whole)) >= 3


def test_small_buckets_and_shards_give_the_same_id_rows_and_a_valid_version(built, tmp_path):
    wh, _ = built
    spec = SftSpec(eval_fraction=0.3)
    big = build_sft_set(wh, spec, store=tmp_path / "a")
    small = build_sft_set(wh, spec, store=tmp_path / "b", rows_per_shard=4, row_group_size=2, bucket_rows=3)
    assert small.version_id == big.version_id and small.wrote_files and big.wrote_files
    assert read_rows(small.path).equals(read_rows(big.path))
    n = big.manifest["n_rows"]
    assert sum(len(f) for f in small.manifest["splits"].values()) == sum(-(-c // 4) for c in
                                                                           big.counts["by_split"].values())
    assert verify(small.path)["ok"] and verify(big.path)["ok"] and verify(small.path)["rows"] == n
    assert small.manifest["counts"] == big.manifest["counts"] and small.manifest["teachers"] == big.manifest["teachers"]


def test_pieces_give_exactly_the_rows_of_sft_rows_sql(built, tmp_path):
    """The reference: sft_rows.sql assembles the same rows in one statement (media, videos, negatives, and a row
    whose annotation is gone, which both drop)."""
    wh, w = built
    sft = build_sft_set(wh, SftSpec(eval_fraction=0.3))
    kept = read_rows(sft.path, columns=["pair_id", "split", "split_group", "qry_annotation_id", "pos_annotation_id"])
    dangling = kept.slice(0, 1).set_column(3, "qry_annotation_id", pa.array(["no-such-annotation"]))
    kept = pa.concat_tables([kept.slice(1), dangling])
    with wh.reader() as con:
        sql.temp_table(con, "kept", kept)
        want = conform(sql.query(con, "sft_rows", {"format_version": FORMAT_VERSION}))
    want = want.sort_by([("split", "ascending"), ("pair_id", "ascending")])
    assert want.num_rows == kept.num_rows - 1
    assert any(n for n in want.column("negatives").to_pylist()) and any(v for v in want.column("qry_video").to_pylist())
    r = build_version(wh, kept, kind="rl", name="pieces", selection={}, store=tmp_path / "s", bucket_rows=2)
    assert read_rows(r.path).equals(want)
    assert r.version_id == content_id(want)


def test_a_rebuild_is_decided_by_fingerprint_before_any_row(built, tmp_path, monkeypatch):
    wh, _ = built
    spec = SftSpec(name="fp", eval_fraction=0.3)
    first = build_sft_set(wh, spec)
    assert first.wrote_files and not first.reused

    def fail(*a, **k):
        raise AssertionError("a rebuild of an unchanged selection assembled rows")

    monkeypatch.setattr(select_mod, "arrange", fail)
    monkeypatch.setattr("umedata.versions.build.arrange", fail)
    monkeypatch.setattr(assemble_mod, "bucket", fail)
    again = build_sft_set(wh, spec)
    assert again.reused and not again.wrote_files and again.version_id == first.version_id
    assert again.manifest == read_manifest(first.path) and again.parents == first.parents
    recorded = builds(wh, first.version_id)
    assert len(recorded) == 2
    fps = wh.sql("SELECT fingerprint FROM dataset_version_builds").column(0).to_pylist()
    assert len(set(fps)) == 1 and fps[0]
    # another store lacks the directory: the rows are assembled there (and the build is no reuse)
    monkeypatch.undo()
    other = build_sft_set(wh, spec, store=tmp_path / "other")
    assert other.version_id == first.version_id and other.wrote_files and not other.reused


def test_a_reparsed_annotation_an_eval_set_or_the_gate_are_not_skipped(built, tmp_path):
    wh, w = built
    spec = SftSpec(name="fp", eval_fraction=0.3)
    first = build_sft_set(wh, spec)
    rows = read_rows(first.path).to_pylist()
    # a reparse rewrites an annotation under its id (new text, new created_at): new rows, new id
    aid = rows[0]["qry_annotation_id"]
    old = wh.sql("SELECT * FROM annotations WHERE annotation_id = $a", {"a": aid}).to_pylist()[0]
    new = {**old, "summary": "a summary a changed parser read", "created_at": old["created_at"].replace(year=2031)}
    with wh.transaction() as con:
        con.register("reparsed", tables.rows("annotations", [new]))
        con.execute("DELETE FROM annotations WHERE annotation_id IN (SELECT annotation_id FROM reparsed)")
        con.execute("INSERT INTO annotations BY NAME SELECT * FROM reparsed")
    second = build_sft_set(wh, spec)
    assert not second.reused and second.version_id != first.version_id
    changed = [r for r in read_rows(second.path).to_pylist() if r["qry_annotation_id"] == aid]
    assert changed and all(r["qry_summary"] == "a summary a changed parser read" for r in changed)
    # an eval set registered since: the fingerprint changes, so decontamination runs (here it finds nothing)
    assert build_sft_set(wh, spec).reused
    eval_set = {"name": "E", "layout": "mmeb_eval", "category": "image", "metric": "hit@1", "path": "/e",
                "root": "/", "content_id": "c1", "n_queries": 0, "n_lists": 0, "n_candidates": 0,
                "registered_at": NOW}
    wh.commit_tables({"eval_sets": tables.rows("eval_sets", [eval_set])})
    third = build_sft_set(wh, spec)
    assert not third.reused and third.version_id == second.version_id and not third.wrote_files
    assert build_sft_set(wh, spec).reused
    # the gate's state: a suite result under the chosen checks version changes the fingerprint (the gate runs)
    with wh.reader() as con:
        sql.temp_table(con, "kept", read_rows(second.path, columns=["pair_id", "split", "split_group",
                                                                     "qry_annotation_id", "pos_annotation_id"]))
        before = fingerprint.complete(con, fingerprint.of_kept(con), kind="sft", keep_contaminated=False)
    version = {"checks_version": "cv1", "config": "{}", "created_at": NOW, "chosen_at": NOW}
    suite = {"batch_id": "import:test", "checks_version": "cv1", "suite": "batch_datasets", "success": False,
             "evaluated": 1, "failed": 1, "rows_seen": 1, "given": "aggregated table", "results": "[]",
             "evaluated_at": NOW}
    wh.commit_tables({"checks_versions": tables.rows("checks_versions", [version]),
                      "checks_suites": tables.rows("checks_suites", [suite])})
    with wh.reader() as con:
        sql.temp_table(con, "kept", read_rows(second.path, columns=["pair_id", "split", "split_group",
                                                                     "qry_annotation_id", "pos_annotation_id"]))
        assert fingerprint.complete(con, fingerprint.of_kept(con), kind="sft", keep_contaminated=False) != before
        assert fingerprint.complete(con, fingerprint.of_kept(con), kind="sft", keep_contaminated=True) != before


def test_a_build_recorded_before_fingerprints_is_found_by_its_rows_then_by_fingerprint(built):
    wh, _ = built
    spec = SftSpec(name="legacy", eval_fraction=0.3)
    first = build_sft_set(wh, spec)
    with wh.transaction() as con:
        con.execute("UPDATE dataset_version_builds SET fingerprint = NULL")
    again = build_sft_set(wh, spec)
    assert not again.reused and not again.wrote_files and again.version_id == first.version_id
    assert build_sft_set(wh, spec).reused
