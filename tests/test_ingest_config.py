"""Source config files (docs/interfaces.md): parsing, relative roots, refusal of mistakes, and the sources row."""

from __future__ import annotations

import json

import pytest
from ingest_fixtures import jsonl, rows

from umedata.ingest import ingest_source
from umedata.sources.config import DatasetSpec, SourceConfigError, SourceSpec, load_sources

GOOD = """
[[source]]
name = "sample"
layout = "mmeb"
root = "data"
licence = "CC0-1.0"
provenance = "generated"
allow_external_teacher = true

  [[source.datasets]]
  name = "ShapesI2T"
  path = "mmeb/ShapesI2T/train.jsonl"
  modality = "image"
  task = "retrieval"
  split = "train"

[[source]]
name = "mine"
layout = "generic"
root = "/abs/elsewhere"

  [[source.datasets]]
  name = "QA"
  path = "qa.parquet"
  columns = { qry = "question", pos = "answer" }
"""


def test_load_sources(tmp_path):
    cfg = tmp_path / "conf" / "sources.toml"
    cfg.parent.mkdir()
    cfg.write_text(GOOD, encoding="utf-8")
    sample, mine = load_sources(cfg)
    assert sample == SourceSpec(
        name="sample",
        layout="mmeb",
        root=(cfg.parent / "data").resolve(),
        licence="CC0-1.0",
        provenance="generated",
        allow_external_teacher=True,
        datasets=[DatasetSpec("ShapesI2T", "mmeb/ShapesI2T/train.jsonl", "image", "retrieval", "train", {})],
    )
    assert mine.root.is_absolute() and str(mine.root) == "/abs/elsewhere"
    assert mine.allow_external_teacher is False  # never sent out unless said so
    assert mine.datasets[0].columns == {"qry": "question", "pos": "answer"} and mine.datasets[0].split == "train"


@pytest.mark.parametrize(
    "change, message",
    [
        (('layout = "mmeb"', 'layout = "nope"'), "layout"),
        (("allow_external_teacher = true", "allow_external_teachr = true"), "unknown key"),
        (("allow_external_teacher = true", 'allow_external_teacher = "yes"'), "true or false"),
        (('modality = "image"', 'modality = "audio"'), "modality"),
        (('columns = { qry = "question", pos = "answer" }', 'columns = { question = "q" }'), "unknown column field"),
        (('name = "mine"', 'name = "sample"'), "unique"),
        (('  name = "ShapesI2T"\n', ""), "needs a name"),
        (("[[source]]", "[[source]"), "not valid TOML"),
    ],
)
def test_config_mistakes_are_refused_with_a_pointed_message(tmp_path, change, message):
    cfg = tmp_path / "sources.toml"
    cfg.write_text(GOOD.replace(*change, 1), encoding="utf-8")
    with pytest.raises(SourceConfigError, match=message) as err:
        load_sources(cfg)
    assert str(cfg) in str(err.value)


def test_columns_belong_to_the_generic_layout_only(tmp_path):
    with pytest.raises(SourceConfigError, match="generic"):
        SourceSpec("s", "mmeb", tmp_path, datasets=[DatasetSpec("D", "x.jsonl", columns={"qry": "q"})])
    with pytest.raises(SourceConfigError, match="query column"):
        SourceSpec("s", "generic", tmp_path, datasets=[DatasetSpec("D", "x.jsonl", columns={"pos": "a"})])


def test_the_sources_row_is_registered_and_kept_current(warehouse, tmp_path):
    jsonl(tmp_path / "t.jsonl", [{"qry": "q", "pos_text": "a"}])
    spec = SourceSpec("s", "mmeb", tmp_path, licence="MIT", datasets=[DatasetSpec("D", "t.jsonl")])
    ingest_source(warehouse, spec)
    (first,) = rows(warehouse, "SELECT * FROM sources")
    assert (first["name"], first["layout"], first["root"], first["licence"], first["allow_external_teacher"]) == (
        "s",
        "mmeb",
        str(tmp_path),
        "MIT",
        False,
    )
    assert json.loads(first["options"])["datasets"][0]["path"] == "t.jsonl"
    ingest_source(warehouse, spec)
    assert rows(warehouse, "SELECT * FROM sources") == [first]  # unchanged config: untouched
    changed = SourceSpec(
        "s", "mmeb", tmp_path, licence="CC-BY-4.0", allow_external_teacher=True, datasets=spec.datasets
    )
    ingest_source(warehouse, changed)
    (now,) = rows(warehouse, "SELECT * FROM sources")
    assert (now["licence"], now["allow_external_teacher"], now["registered_at"]) == (
        "CC-BY-4.0",
        True,
        first["registered_at"],
    )
