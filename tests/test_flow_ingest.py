"""The ingest flow runs for real (Prefect harness) on the bundled sample and re-runs for free."""

from pathlib import Path

from flows.ingest import ingest_flow
from umedata.warehouse import Warehouse

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample" / "sources.toml"


def test_ingest_flow_on_the_sample(prefect_harness, tmp_path):
    db = tmp_path / "w.duckdb"
    first = ingest_flow(str(SAMPLE), str(db))
    assert {r["source"] for r in first} == {"shapes-mmeb", "moving-shapes-ume", "field-docs"}
    assert sum(r["quarantined"] for r in first) == 0
    wh = Warehouse(db)
    pairs = wh.sql("SELECT count(*) AS n FROM pairs").column("n")[0].as_py()
    assert pairs == sum(r["pairs_new"] for r in first) == 1832
    modalities = set(wh.sql("SELECT DISTINCT modality FROM pairs").column("modality").to_pylist())
    assert modalities == {"image", "video", "visdoc"}
    again = ingest_flow(str(SAMPLE), str(db))
    assert sum(r["pairs_new"] + r["sides_new"] + r["media_new"] for r in again) == 0
    assert wh.sql("SELECT count(*) AS n FROM ingest_runs").column("n")[0].as_py() == 6
