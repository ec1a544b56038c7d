"""Requeue: send sides whose annotations failed their checks back to the teacher, under a new request key.

    sides = choose_sides(wh, rules=["repetition", "refusal"])
    summary = requeue(wh, load_config("teacher.toml"), sides)           # next unused seed, same model
    summary = requeue(wh, cfg, sides, model="Qwen/Qwen2.5-VL-72B-Instruct")

A request key hashes the model, prompt, messages and sampling params with the seed, so a new seed or another model
is a new key: the teacher's exactly-once rule still holds (a key already answered is never sent again, and running
the same requeue twice sends nothing the second time), the old answer and its annotation stay on record, and
nothing is paid twice. The new annotations are checked by the next `umedata validate` (until then the chosen
checks version has not judged them, so they are not validated).
"""

from __future__ import annotations

import copy
from typing import Any

import pyarrow as pa

from umedata import sql
from umedata.errors import UserError
from umedata.warehouse import Warehouse


def choose_sides(wh: Warehouse, *, rules: list[str] | None = None, datasets: list[str] | None = None,
                 limit: int | None = None) -> list[dict[str, Any]]:
    """Sides with a failed check under the chosen checks version and no validated annotation:
    [{side_id, failed_rules, annotations}]."""
    if not wh.query("checks_chosen_version").num_rows:
        raise UserError("no checks version is chosen: run `umedata validate` first")
    return wh.query("checks_requeue_sides", {"rules": rules or None, "datasets": datasets or None,
                                              "limit": limit}).to_pylist()


def next_seed(wh: Warehouse, side_ids: list[str], model: str) -> int:
    """The first seed `model` has never been asked with for any of these sides."""
    with wh.reader() as con:
        sql.temp_table(con, "chosen_sides", pa.table({"side_id": pa.array(side_ids, pa.string())}))
        return int(sql.query(con, "checks_requeue_seed", {"model": model}).column("seed")[0].as_py())


def requeue(wh: Warehouse, cfg, side_ids: list[str], *, seed: int | None = None, model: str | None = None,
            **run_options: Any):
    """Ask the teacher again for `side_ids` with `seed` (default: the next unused one) and/or another `model`.
    `cfg` is a TeacherConfig (left unchanged); `run_options` go to umedata.teacher.annotate.make_run. Returns the
    run's summary (teacher RunSummary); with no sides, nothing runs and None is returned."""
    from umedata.teacher.annotate import run_teacher
    from umedata.teacher.config import TeacherConfig
    from umedata.teacher.run import Selection

    if not side_ids:
        return None
    data = copy.deepcopy(cfg.__dict__)
    if model is not None:
        data["model"] = model
    probe = TeacherConfig(**data)
    if seed is None and model is None:
        seed = next_seed(wh, side_ids, probe.model)
    if seed is not None:
        data["params"] = {**data["params"], "seed": int(seed)}
    new_cfg = TeacherConfig(**data)
    return run_teacher(wh, new_cfg, Selection(side_ids=list(side_ids), requeue=True), **run_options)
