"""RL sets: the pairs of an SFT version on which the policy's rollouts disagree, curated offline by reward variance.

RL only teaches where a side's K rollouts score differently: a group whose rewards are all equal gives every
rollout an advantage of 0 (GRPO normalises by the group). Online trainers (DAPO, verl) drop such groups after paying
for their generation; here they are dropped before RL starts, from rollouts of the SFT checkpoint scored offline
(umedata/rollouts.py loads them), and the evidence stays in the warehouse.

    build_rl_set(warehouse, RlSpec(...))  -> RlBuild (the version, every candidate's decision, the audit)
    curate(con, spec, scoring, expected)  the SQL steps on a connection that has the inputs (what the bench times)
    allocate(strata, ...)                 per-stratum quotas (a few dozen rows: plain Python)

The steps are SQL files (schemas/queries/curate_*.sql): per pair, mean and sample variance of the reward over the
K rollouts of each side (curate_pair_stats); reasons a pair cannot enter - not scored, incomplete, an eval side,
both groups constant, outside the difficulty band, a duplicate query side or leakage group (curate_eligible);
eligible pairs per (dataset, modality) stratum (curate_strata); the top `quota` of each stratum by score
(curate_pick). Choices, each recorded in the manifest:
- score = the mean of the two groups' variances (GRPO's loss averages the query and target losses); a pair enters
  when either group varies. Variance is the sample variance (n - 1), the std GRPO divides by.
- the difficulty band applies to the pair's mean reward (mean of the two groups' means); open by default.
- candidates are the SFT version's train rows, with the annotations that version chose; a pair whose query side
  is any side of its eval split, whose target is an eval query, or whose leakage group reaches eval never enters
  (a shared class label as target is not a leak: every eval query of that class has it as its answer too).
- quotas: the target (11,000 by default, about the reference RL set) is split over strata in proportion to their
  eligible pairs (or equally, or by modality weights first), capped per dataset, and what a full stratum cannot
  take goes to the others (water-filling); largest remainders, ties by name.
- dedup: one pair per query side, and at most one per leakage group by default (max_per_group; 0: no limit) -
  near-duplicate queries (a shared image, the same normalised text) would otherwise fill a stratum with variants
  of one example, and 11 k pairs out of a million are worth spending on different ones.
- one scoring: a side's K rollouts scored in one pool are its group; rewards of the same rollouts in other pools
  are not more samples of it (build another set from another scoring instead).
- ties in score are broken by a seeded order of pair ids (their first 60 bits XOR a mask derived from the seed:
  plain arithmetic, the same in every DuckDB version), so the set is deterministic and independent of row order;
  the same inputs give the same rows and so the same version id (the id hashes content only).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from umedata import sql
from umedata.errors import UserError
from umedata.versions import registry
from umedata.versions.build import BuildResult, build_version
from umedata.versions.store import read_manifest, read_rows
from umedata.warehouse import Warehouse

REFERENCE_RL_PAIRS = 11_000  # the released UME-R1 RL set has about this many pairs
ALLOCATIONS = ("proportional", "equal")
REASONS = ("not_scored", "incomplete", "eval_side", "zero_variance", "out_of_band", "duplicate_side",
           "duplicate_group", "over_quota")
QUERIES = ("curate_pair_stats", "curate_eligible", "curate_strata", "curate_pick")
TIE_BREAK = "score, then the first 60 bits of pair_id XOR tie_mask(seed), then pair_id; all descending"
CANDIDATE_COLUMNS = ["pair_id", "dataset_name", "modality", "split_group", "qry_side_id", "pos_side_id",
                     "qry_annotation_id", "pos_annotation_id"]


@dataclass(frozen=True)
class RlSpec:
    """Everything that decides which pairs an RL version has. Recorded with every build.

    sft_version: the SFT version the rollouts were made on (id, prefix or name); default: that of the scoring.
    scoring: the scoring id (or a unique prefix) whose rewards count; default: the latest scoring loaded for the
        SFT version (or the latest of all when no version is named).
    target: pairs in the set (None: every eligible pair). min_mean / max_mean: difficulty band on a pair's mean
        reward. min_variance: a group varies when its variance exceeds this.
    caps: dataset -> most pairs. modality_weights: modality -> share of the target (modalities not listed get
        none); without them the target follows the strata. allocation: proportional (to eligible pairs) | equal.
    max_per_group: most pairs per leakage group (0: no limit).
    """

    name: str = "rl"
    sft_version: str | None = None
    scoring: str | None = None
    target: int | None = REFERENCE_RL_PAIRS
    min_mean: float | None = None
    max_mean: float | None = None
    min_variance: float = 0.0
    caps: Mapping[str, int] = field(default_factory=dict)
    modality_weights: Mapping[str, float] = field(default_factory=dict)
    allocation: str = "proportional"
    max_per_group: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.allocation not in ALLOCATIONS:
            raise UserError(f"allocation must be one of {', '.join(ALLOCATIONS)}, not {self.allocation!r}")
        if self.target is not None and self.target < 1:
            raise UserError("target must be a positive number of pairs (or None for every eligible pair)")
        if self.min_mean is not None and self.max_mean is not None and self.min_mean > self.max_mean:
            raise UserError(f"the difficulty band is empty: min_mean {self.min_mean} > max_mean {self.max_mean}")
        if any(v < 0 for v in self.caps.values()) or any(v < 0 for v in self.modality_weights.values()):
            raise UserError("caps and modality weights must not be negative")
        if self.max_per_group < 0 or self.min_variance < 0:
            raise UserError("max_per_group and min_variance must not be negative")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["caps"] = dict(sorted(self.caps.items()))
        d["modality_weights"] = dict(sorted(self.modality_weights.items()))
        return d


@dataclass
class RlBuild:
    result: BuildResult
    decisions: pa.Table  # every candidate: statistics, stratum_rank, reason (NULL = selected)
    info: dict[str, Any]  # the selection audit written into the manifest

    def summary(self) -> dict[str, Any]:
        return {**self.result.summary(), "kind": "rl", "candidates": self.info["candidates"],
                "selected": self.info["selected"], "rejected": self.info["rejected"]}


# ------------------------------------------------------------------------------------------------ allocation
def _largest_remainder(budget: int, weights: Mapping[Any, float]) -> dict[Any, int]:
    total = sum(weights.values())
    exact = {k: budget * w / total for k, w in weights.items()}
    out = {k: math.floor(x) for k, x in exact.items()}
    for k in sorted(exact, key=lambda k: (-(exact[k] - out[k]), k))[: budget - sum(out.values())]:
        out[k] += 1
    return out


def _fill(budget: int, room: Mapping[Any, int], weight: Mapping[Any, float]) -> dict[Any, int]:
    """Water-filling: split the budget by weight; a stratum never gets more than its room, and what it cannot take
    is split again among the others, until the budget is spent or every stratum is full."""
    got = {k: 0 for k in room}
    while budget > 0:
        open_ = {k: weight[k] for k in room if got[k] < room[k] and weight[k] > 0}
        if not open_:
            break
        share = _largest_remainder(budget, open_)
        given = 0
        for k, n in share.items():
            n = min(n, room[k] - got[k])
            got[k] += n
            given += n
        budget -= given
        if given == 0:  # every open stratum's share rounded to 0 and the remainders went to full ones
            break
    return got


def allocate(strata: Sequence[Mapping[str, Any]], target: int | None, caps: Mapping[str, int] | None = None,
             modality_weights: Mapping[str, float] | None = None, allocation: str = "proportional") -> dict[tuple[str, str], int]:
    """Quota per (dataset_name, modality) from rows {dataset_name, modality, eligible}.

    A stratum's room is its eligible pairs, capped by `caps[dataset_name]`. With modality_weights the target is
    first split over modalities by weight (unlisted modalities get 0), then within each modality over its strata."""
    caps, weights = caps or {}, modality_weights or {}
    eligible = {(s["dataset_name"], s["modality"]): int(s["eligible"]) for s in strata}
    room = {k: min(n, int(caps.get(k[0], n))) for k, n in eligible.items()}
    if target is None:
        if not weights:
            return room
        return {k: (n if weights.get(k[1], 0) > 0 else 0) for k, n in room.items()}

    def weight(keys):
        return {k: (float(eligible[k]) if allocation == "proportional" else 1.0) for k in keys}

    if not weights:
        return _fill(target, room, weight(room))
    present = {m: w for m, w in weights.items() if w > 0 and any(k[1] == m and room[k] for k in room)}
    out = {k: 0 for k in room}
    if not present:
        return out
    for m, budget in _largest_remainder(target, present).items():
        keys = [k for k in room if k[1] == m]
        out.update(_fill(budget, {k: room[k] for k in keys}, weight(keys)))
    return out


# ------------------------------------------------------------------------------------------------ curation
def tie_mask(seed: int) -> int:
    """The seed's 60-bit mask for the tie-break order (curate_eligible.sql)."""
    return int(hashlib.sha256(f"rl-tie:{seed}".encode()).hexdigest()[:15], 16)


def curate(con: duckdb.DuckDBPyConnection, spec: RlSpec, scoring: str, expected: int,
           ) -> tuple[pa.Table, dict[str, Any]]:
    """The curation steps on a connection holding rollout_rewards and the temp tables rl_candidates,
    rl_eval_sides(side_id, role) and rl_eval_groups(split_group). Returns every candidate with its statistics and
    decision (pair_id, dataset_name, modality, split_group, n/mean/var/format per side, mean, score,
    stratum_rank, reason), and the strata with their quotas."""
    sql.execute(con, "curate_pair_stats", {"scoring": scoring})
    sql.execute(con, "curate_eligible", {
        "tie_mask": tie_mask(spec.seed), "expected": expected, "min_variance": float(spec.min_variance),
        "min_mean": spec.min_mean, "max_mean": spec.max_mean, "max_per_group": spec.max_per_group,
    })
    strata = sql.query(con, "curate_strata").to_pylist()
    quotas = allocate(strata, spec.target, spec.caps, spec.modality_weights, spec.allocation)
    sql.temp_table(con, "rl_quotas", pa.table({
        "dataset_name": pa.array([k[0] for k in quotas], pa.string()),
        "modality": pa.array([k[1] for k in quotas], pa.string()),
        "quota": pa.array(list(quotas.values()), pa.int64()),
    }))
    decisions = sql.query(con, "curate_pick", {"max_quota": max(quotas.values(), default=0)})
    for s in strata:
        s["quota"] = quotas[(s["dataset_name"], s["modality"])]
    return decisions, {"strata": strata}


def candidate_tables(sft_dir: str) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(train candidates, eval sides, eval leakage groups) of an SFT version directory."""
    train = read_rows(sft_dir, columns=CANDIDATE_COLUMNS, splits=["train"])
    ev = read_rows(sft_dir, columns=["qry_side_id", "pos_side_id", "split_group"], splits=["eval"])
    sides = pa.table({
        "side_id": pa.concat_arrays([ev.column("qry_side_id").combine_chunks(), ev.column("pos_side_id").combine_chunks()]),
        "role": pa.array(["qry"] * ev.num_rows + ["pos"] * ev.num_rows, pa.string()),
    })
    return train, sides, ev.select(["split_group"])


def _scoring(con: duckdb.DuckDBPyConnection, spec: RlSpec, version_id: str | None) -> dict[str, Any]:
    """The scoring row the spec names (id or unique prefix), or the latest one loaded."""
    known = sql.query(con, "rollouts_scorings", {"version": version_id}).to_pylist()
    of = f" of version {version_id}" if version_id else ""
    if spec.scoring is None:
        if not known:
            raise UserError(f"no rollout scores loaded{of}: run the rollouts flow, or `umedata rollouts load`")
        return known[0]
    hits = [s for s in known if s["scoring_id"].startswith(spec.scoring)]
    if len(hits) != 1:
        raise UserError(f"scoring {spec.scoring!r} matches {len(hits)} loaded scorings{of}")
    return hits[0]


def resolve_inputs(wh: Warehouse, spec: RlSpec) -> dict[str, Any]:
    """The SFT version (id, path) and the scoring with its rollout run, checked for what curation needs."""
    with wh.reader() as con:
        version_id = registry.resolve_with(con, spec.sft_version) if spec.sft_version else None
        scoring = _scoring(con, spec, version_id)
        version_id = version_id or scoring["dataset_version_id"]
        info = sql.query(con, "registry_get", {"version_id": version_id}).to_pylist()
    if not info:
        raise UserError(f"the scored rollouts were made on version {version_id}, which this warehouse has not "
                        f"registered: curation needs its pairs")
    if scoring["split"] != "train":
        raise UserError(f"scoring {scoring['scoring_id'][:12]} rolled out the {scoring['split']!r} split: an RL set "
                        f"is drawn from train")
    if int(scoring["k"]) < 2:
        raise UserError("a reward variance needs at least 2 rollouts per side (k >= 2)")
    return {"version_id": version_id, "path": info[0]["path"], "kind": info[0]["kind"], "scoring": scoring,
            "expected": int(scoring["k"])}


def _mean(t: pa.Table, col: str) -> float | None:
    v = pc.mean(t.column(col)).as_py() if t.num_rows else None
    return None if v is None else round(float(v), 6)


def _reward_summary(t: pa.Table) -> dict[str, Any]:
    fmt = [c for c in (_mean(t, "format_qry"), _mean(t, "format_pos")) if c is not None]
    return {"pairs": t.num_rows, "mean_reward": _mean(t, "mean"), "mean_reward_qry": _mean(t, "mean_qry"),
            "mean_reward_pos": _mean(t, "mean_pos"), "mean_variance": _mean(t, "score"),
            "format_rate": round(sum(fmt) / len(fmt), 6) if fmt else None}


def audit(decisions: pa.Table) -> dict[str, Any]:
    """Counts per decision, and the reward before (every scored candidate) and after (the selected pairs)."""
    reasons = decisions.column("reason")
    counts = pc.value_counts(pc.fill_null(reasons, "selected")).to_pylist()
    by = {c["values"]: c["counts"] for c in counts}
    scored = decisions.filter(pc.is_valid(decisions.column("n_qry")))
    selected = decisions.filter(pc.is_null(reasons))
    return {"candidates": decisions.num_rows, "selected": by.pop("selected", 0),
            "rejected": {r: by[r] for r in REASONS if r in by},
            "rewards": {"before": _reward_summary(scored), "after": _reward_summary(selected)}}


def run_curation(wh: Warehouse, spec: RlSpec, inputs: dict[str, Any]) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """Candidates from the SFT version's files, then the SQL steps on a short read session of the warehouse.
    Returns (decisions sorted by pair_id, the candidates table, the audit)."""
    train, eval_sides, eval_groups = candidate_tables(inputs["path"])
    with wh.reader() as con:
        sql.temp_table(con, "rl_candidates", train)
        sql.temp_table(con, "rl_eval_sides", eval_sides)
        sql.temp_table(con, "rl_eval_groups", eval_groups)
        decisions, quota_info = curate(con, spec, inputs["scoring"]["scoring_id"], inputs["expected"])
    decisions = decisions.sort_by([("pair_id", "ascending")])
    return decisions, train, {**audit(decisions), **quota_info}


def build_rl_set(
    warehouse: Warehouse | str | os.PathLike[str] | None = None,
    spec: RlSpec | None = None,
    store: str | os.PathLike[str] | None = None,
    parents: list[str] | None = None,
) -> RlBuild:
    """Curate the RL set the spec describes and write it as a version of kind "rl" (or find it)."""
    spec = spec or RlSpec()
    wh = registry.as_warehouse(warehouse)
    inputs = resolve_inputs(wh, spec)
    decisions, candidates, info = run_curation(wh, spec, inputs)
    selected = decisions.filter(pc.is_null(decisions.column("reason")))
    if selected.num_rows == 0:
        raise UserError(f"no pair of version {inputs['version_id'][:12]} passed the curation "
                        f"({info['candidates']} candidates; rejected: {info['rejected']})")
    sft = read_manifest(inputs["path"])
    if selected.num_rows == sft["n_rows"]:
        raise UserError(f"the curation kept every pair of SFT version {inputs['version_id'][:12]}: the RL set would be "
                        f"that version itself; lower the target or narrow the band")
    # the annotations the SFT version chose, for the selected pairs only
    kept = candidates.filter(pc.is_in(candidates.column("pair_id"), value_set=selected.column("pair_id")))
    kept = pa.table({
        "pair_id": kept.column("pair_id"), "split": pa.array(["train"] * kept.num_rows, pa.string()),
        **{c: kept.column(c) for c in ("split_group", "qry_annotation_id", "pos_annotation_id")},
    })
    sc = inputs["scoring"]
    links = {
        "sft_version_id": inputs["version_id"], "sft_version_path": inputs["path"],
        "checkpoint": sc["checkpoint"], "checkpoint_id": sc["checkpoint_id"], "rollout_run": sc["run_id"],
        "sampling": json.loads(sc["sampling"]) if isinstance(sc["sampling"], str) else sc["sampling"],
        "backend": sc["backend"],
        "scoring": {k: sc[k] for k in ("scoring_id", "pool_size", "seed", "n_pools")},
    }
    selection = {
        "method": "reward-variance", "params": spec.to_json(),
        "queries": [f"umedata/schemas/queries/{q}.sql" for q in QUERIES], "tie_break": TIE_BREAK,
        "tie_mask": tie_mask(spec.seed), "rollouts_per_side": inputs["expected"], **info,
    }
    result = build_version(
        wh, kept, kind="rl", name=spec.name, selection=selection, manifest_extra={"rl": links},
        build_filters={**spec.to_json(), "scoring": sc["scoring_id"], "sft_version": inputs["version_id"],
                       "parents": parents},
        query_name=",".join(QUERIES), query_sql="\n".join(sql.text(q) for q in QUERIES), store=store,
        parents=parents if parents is not None else [inputs["version_id"]],
    )
    return RlBuild(result=result, decisions=decisions, info=info)
