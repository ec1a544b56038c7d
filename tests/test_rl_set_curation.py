"""RL-set curation on hand-made rewards: every reason a pair is turned away, variances and ranks as computed by
hand, quotas, and the seeded tie-break. The SQL files run on an in-memory DuckDB holding exactly these rows."""

from __future__ import annotations

import pyarrow as pa
import pytest

from umedata import sql, tables
from umedata.errors import UserError
from umedata.versions.rl import RlSpec, allocate, audit, curate

K = 4


def rewards(pair: str, qry: list[float], pos: list[float], scoring: str = "s1") -> list[dict]:
    out = []
    for role, values in (("qry", qry), ("pos", pos)):
        for k, v in enumerate(values):
            out.append({"scoring_id": scoring, "pool_id": 0, "pair_id": pair, "role": role, "side_id": f"{pair}-{role}",
                        "k": k, "rollout_key": f"{pair}-{role}-{k}", "r_format": 1.0 if k % 2 == 0 else 0.0,
                        "rank": 1.0, "gap": v - (1.0 if k % 2 == 0 else 0.0), "r_emb": v - (1.0 if k % 2 == 0 else 0.0),
                        "reward": v})
    return out


def candidate(pair: str, dataset: str = "dsA", modality: str = "image", qry_side: str | None = None,
              group: str | None = None) -> dict:
    return {"pair_id": pair, "dataset_name": dataset, "modality": modality, "split_group": group or pair,
            "qry_side_id": qry_side or f"{pair}-qry", "pos_side_id": f"{pair}-pos",
            "qry_annotation_id": f"a-{pair}-q", "pos_annotation_id": f"a-{pair}-p"}


def run(cands: list[dict], rows: list[dict], spec: RlSpec, eval_sides: list[tuple[str, str]] = (),
        eval_groups: list[str] = (), scoring: str = "s1", expected: int = K):
    con = sql.memory()
    try:
        sql.temp_table(con, "rollout_rewards", tables.rows("rollout_rewards", rows))
        sql.temp_table(con, "rl_candidates", pa.Table.from_pylist(cands))
        sql.temp_table(con, "rl_eval_sides", pa.table({"side_id": pa.array([s for s, _ in eval_sides], pa.string()),
                                                       "role": pa.array([r for _, r in eval_sides], pa.string())}))
        sql.temp_table(con, "rl_eval_groups", pa.table({"split_group": pa.array(list(eval_groups), pa.string())}))
        decisions, info = curate(con, spec, scoring, expected)
    finally:
        con.close()
    return {r["pair_id"]: r for r in decisions.to_pylist()}, info, decisions


def world():
    const = [1.0] * K
    cands = [candidate(f"p{i}") for i in (1, 2, 3, 4, 5)]
    cands += [candidate("p6"), candidate("p7", qry_side="p3-qry"), candidate("p8", group="p2")]
    cands += [candidate(p, "dsB", "video") for p in ("p9", "p10", "p11")]
    rows = rewards("p1", [0.0] * K, const)                     # both groups constant
    rows += rewards("p2", [0, 1, 0, 1], const)                 # var_qry 1/3, score 1/6, mean 0.75
    rows += rewards("p3", [0, 0, 0, 2], const)                 # var_qry 1, score 1/2, mean 0.75
    rows += rewards("p4", [0, 1, 0, 1], const)[1:]             # a query rollout missing
    rows += rewards("p6", [0, 1, 0, 1], const)                 # its query is an eval side
    rows += rewards("p7", [0, 1, 0, 1], const)                 # same query side as p3, lower score
    rows += rewards("p8", [0, 0, 0, 1], const)                 # p2's leakage group, lower score (var 1/4)
    rows += rewards("p9", [1, 2, 1, 2], [0.0] * K)             # var 1/3, score 1/6
    rows += rewards("p10", [5, 5, 5, 6], [2.0] * K)            # mean (5.25 + 2) / 2 = 3.625: above the band
    rows += rewards("p11", [0, 1, 1, 1], [0.0] * K)            # var 1/4, score 1/8
    return cands, rows


def test_every_reason_and_the_hand_computed_statistics():
    cands, rows = world()
    got, info, decisions = run(cands, rows, RlSpec(target=3, max_mean=3.0), eval_sides=[("p6-qry", "qry")])
    reasons = {p: r["reason"] for p, r in got.items()}
    assert reasons == {"p1": "zero_variance", "p2": None, "p3": None, "p4": "incomplete", "p5": "not_scored",
                       "p6": "eval_side", "p7": "duplicate_side", "p8": "duplicate_group", "p9": None,
                       "p10": "out_of_band", "p11": "over_quota"}
    assert got["p2"]["var_qry"] == pytest.approx(1 / 3) and got["p2"]["var_pos"] == 0
    assert got["p3"]["var_qry"] == pytest.approx(1.0) and got["p3"]["score"] == pytest.approx(0.5)
    assert got["p3"]["mean"] == pytest.approx(0.75) and got["p10"]["mean"] == pytest.approx(3.625)
    assert got["p11"]["score"] == pytest.approx(1 / 8)
    assert got["p2"]["format_qry"] == pytest.approx(0.5)  # r_format 1 on even k
    assert got["p4"]["n_qry"] == K - 1 and got["p5"]["n_qry"] is None
    # eligible: dsA {p2, p3}, dsB {p9, p11}; 3 split 1.5 / 1.5, the tied remainder to the first name (dsA)
    assert {(s["dataset_name"], s["eligible"], s["quota"]) for s in info["strata"]} == {("dsA", 2, 2), ("dsB", 2, 1)}
    assert (got["p3"]["stratum_rank"], got["p2"]["stratum_rank"], got["p9"]["stratum_rank"]) == (1, 2, 1)
    a = audit(decisions)
    assert a["selected"] == 3 and a["candidates"] == 11
    assert a["rejected"] == {"not_scored": 1, "incomplete": 1, "eval_side": 1, "zero_variance": 1, "out_of_band": 1,
                             "duplicate_side": 1, "duplicate_group": 1, "over_quota": 1}
    assert a["rewards"]["after"]["mean_reward"] == pytest.approx((0.75 + 0.75 + 0.75) / 3)


def test_eval_targets_and_groups_also_keep_a_pair_out_but_a_shared_eval_label_does_not():
    cands, rows = world()
    got, _, _ = run(cands, rows, RlSpec(target=None), eval_sides=[("p2-qry", "pos"), ("p9-pos", "pos")],
                    eval_groups=["p11"])
    assert got["p2"]["reason"] == "eval_side"         # its query side is an eval target
    assert got["p11"]["reason"] == "eval_side"        # its leakage group reaches eval
    assert got["p9"]["reason"] is None                # its target is an eval target: a shared label, not a leak
    got, _, _ = run(cands, rows, RlSpec(target=None), eval_sides=[("p9-pos", "qry")])
    assert got["p9"]["reason"] == "eval_side"         # its target is an eval query


def test_band_variance_floor_and_group_limit():
    cands, rows = world()
    got, _, _ = run(cands, rows, RlSpec(target=None, min_mean=1.0))
    assert {p for p, r in got.items() if r["reason"] is None} == {"p10"}  # only p10's mean is above 1
    got, _, _ = run(cands, rows, RlSpec(target=None, min_variance=0.3))
    # p11 (1/4) falls below the floor; p8 (1/4) too, so it no longer counts as p2's duplicate but as constant
    assert got["p11"]["reason"] == got["p8"]["reason"] == "zero_variance"
    got, _, _ = run(cands, rows, RlSpec(target=None, max_per_group=0))
    assert got["p8"]["reason"] is None


def test_only_the_named_scoring_counts():
    cands = [candidate("p1")]
    rows = rewards("p1", [1.0] * K, [1.0] * K, "s1") + rewards("p1", [0.0, 1, 0, 1], [1.0] * K, "s2")
    got, _, _ = run(cands, rows, RlSpec(target=None), scoring="s1")
    assert got["p1"]["reason"] == "zero_variance" and got["p1"]["n_qry"] == K
    got, _, _ = run(cands, rows, RlSpec(target=None), scoring="s2")
    assert got["p1"]["reason"] is None and got["p1"]["var_qry"] == pytest.approx(1 / 3)


def test_ties_are_broken_by_the_seeded_order_deterministically():
    import hashlib

    from umedata.versions.rl import tie_mask

    ids = [hashlib.sha256(f"pair{i}".encode()).hexdigest()[:32] for i in range(8)]  # pair ids are hex digests
    cands = [candidate(p) for p in ids]
    rows = [r for p in ids for r in rewards(p, [0, 1, 0, 1], [1.0] * K)]  # every score tied
    picks = {}
    for seed in range(6):
        got, _, _ = run(cands, rows, RlSpec(target=2, seed=seed))
        picks[seed] = sorted(p for p, r in got.items() if r["reason"] is None)
        # by hand: the two largest (first 60 bits of the id) XOR the seed's mask
        assert picks[seed] == sorted(sorted(ids, key=lambda p: int(p[:15], 16) ^ tie_mask(seed))[-2:])
        again, _, _ = run(list(reversed(cands)), list(reversed(rows)), RlSpec(target=2, seed=seed))
        assert sorted(p for p, r in again.items() if r["reason"] is None) == picks[seed]  # row order plays no part
    assert len({tuple(v) for v in picks.values()}) > 1  # the seed decides


def test_allocation_by_hand():
    strata = [{"dataset_name": "A", "modality": "image", "eligible": 10},
              {"dataset_name": "B", "modality": "image", "eligible": 30}]
    assert allocate(strata, 20) == {("A", "image"): 5, ("B", "image"): 15}
    assert allocate(strata, 20, allocation="equal") == {("A", "image"): 10, ("B", "image"): 10}
    small = [{**strata[0], "eligible": 4}, strata[1]]
    assert allocate(small, 20, allocation="equal") == {("A", "image"): 4, ("B", "image"): 16}  # water-filled
    # B capped at 12: the 3 it cannot take go to A
    assert allocate(strata, 20, caps={"B": 12}) == {("A", "image"): 8, ("B", "image"): 12}
    assert allocate(strata, 100) == {("A", "image"): 10, ("B", "image"): 30}  # more than there is: everything
    assert allocate(strata, None, caps={"A": 3}) == {("A", "image"): 3, ("B", "image"): 30}
    three = [{"dataset_name": "A", "modality": "image", "eligible": 10},
             {"dataset_name": "B", "modality": "image", "eligible": 10},
             {"dataset_name": "C", "modality": "video", "eligible": 5}]
    # modality weights first (5 / 5), then within image 2.5 / 2.5 with the tied remainder to A
    assert allocate(three, 10, modality_weights={"image": 1, "video": 1}) == \
        {("A", "image"): 3, ("B", "image"): 2, ("C", "video"): 5}
    assert allocate(three, 10, modality_weights={"image": 1}) == {("A", "image"): 5, ("B", "image"): 5, ("C", "video"): 0}
    assert sum(allocate(three, 7).values()) == 7


def test_bad_specs_are_user_errors():
    with pytest.raises(UserError, match="band is empty"):
        RlSpec(min_mean=1.0, max_mean=0.0)
    with pytest.raises(UserError, match="allocation"):
        RlSpec(allocation="greedy")
    with pytest.raises(UserError, match="target"):
        RlSpec(target=0)
