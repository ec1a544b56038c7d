"""prefect.yaml names real flows with parameters their signatures accept (a typo fails here, not at 2 a.m.)."""

import importlib
import inspect
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def test_every_deployment_points_at_a_flow_and_valid_parameters():
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    names = {d["name"] for d in spec["deployments"]}
    assert {"ingest", "annotate", "validate", "build-sft-set", "train", "rollouts", "build-rl-set", "eval", "pipeline",
            "demo"} <= names
    assert {d["work_pool"]["name"] for d in spec["deployments"]} == {"umedata-data", "umedata-gpu"}
    for dep in spec["deployments"]:
        path, func = dep["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, func)
        params = inspect.signature(flow.fn).parameters
        assert set(dep.get("parameters") or {}) <= set(params), dep["name"]
        missing = [n for n, p in params.items() if p.default is inspect.Parameter.empty and n not in (dep.get("parameters") or {})]
        assert not missing, f"{dep['name']} lacks required parameters {missing}"
        for sched in dep.get("schedules") or []:
            assert sched["active"] is False, "schedules ship switched off"


def test_the_real_run_parameters_file_names_pipeline_parameters():
    import tomllib

    from flows.pipeline import pipeline_flow
    from flows.train import flags

    params = tomllib.loads((REPO / "examples" / "pipeline.toml").read_text())
    assert set(params) <= set(inspect.signature(pipeline_flow.fn).parameters)
    assert "--grad-ckpt" in flags(params["sft"]) and params["launcher"]["kind"] == "torchrun"
