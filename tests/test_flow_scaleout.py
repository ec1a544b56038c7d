"""Scale-out on an existing engine: rollout shards as independent processes on a Dask cluster (prefect-dask), one
folder, one loader; several teacher runs at once on the same runner, leases splitting the keys."""

from __future__ import annotations

import pytest
import teacher_helpers as th
from openai_server import OpenAIServer, Script
from rollout_fixtures import steered_dir  # noqa: F401  (pytest fixture)
from training_fixtures import REPO

from umedata.ingest import ingest_source
from umedata.sources.config import load_sources
from umedata.teacher.annotate import run_teacher
from umedata.teacher.config import load_config
from umedata.versions import SftSpec, build_sft_set, read_rows


@pytest.mark.slow
def test_rollout_shards_on_a_dask_cluster_land_once(prefect_harness, warehouse, steered_dir, tmp_path):  # noqa: F811
    pytest.importorskip("prefect_dask", reason="the Dask runner needs prefect-dask (the cluster extra)")
    from flows.rollouts import rollouts_flow

    for spec in load_sources(REPO / "examples" / "sample" / "sources.toml"):
        if spec.name == "shapes-mmeb":
            ingest_source(warehouse, spec)
    run_teacher(warehouse, load_config(None, backend="offline"))
    version = build_sft_set(warehouse, SftSpec(name="pool", split_mode="source", datasets=("ShapesCls",),
                                               caps={"ShapesCls": 12}))
    train = read_rows(version.path, columns=["qry_side_id", "pos_side_id"], splits=["train"])
    sides = set(train.column("qry_side_id").to_pylist()) | set(train.column("pos_side_id").to_pylist())
    out = tmp_path / "rollouts"
    res = rollouts_flow(checkpoint=str(steered_dir), dataset=version.path, out=str(out), k=2,
                        max_completion_length=8, pool_size=4, shards=2, runner="dask", warehouse=str(warehouse.path),
                        rollout_args=["--threads", "1"])
    ranks = {p.name.split("-")[1] for p in (out / "rollouts").glob("part-*.parquet")}
    assert ranks == {"r0", "r1"}  # both shards wrote, each its own files
    assert res["rollouts_new"] == 2 * len(sides) and res["quarantined"] == 0
    n = warehouse.sql("SELECT count(*) AS n FROM rollouts").column("n")[0].as_py()
    assert n == 2 * len(sides)


def test_several_teacher_runs_at_once_send_each_key_once(prefect_harness, warehouse, tmp_path):
    from flows.annotate import annotate_flow

    sides = th.seed(warehouse, tmp_path, n_pairs=60, images=False)["sides"]
    with OpenAIServer(Script(latency_s=0.01)) as srv:
        cfg = th.toml_config(tmp_path / "t.toml", srv.url, lease_chunk=16, commit_every=16, commit_interval_s=0.1)
        out = annotate_flow(config=str(cfg), warehouse=str(warehouse.path), runs=3, runner="threads")
        stats = srv.stats.snapshot()
    assert len(out["runs"]) == 3 and sum(r["leased"] for r in out["runs"]) == len(sides)
    assert stats["total"] == len(sides) and set(stats["requests"].values()) == {1}
    assert warehouse.sql("SELECT count(*) AS n FROM annotations").column("n")[0].as_py() == len(sides)
