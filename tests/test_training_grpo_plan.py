"""The RL prompt plan over a dataset version (training.data.PromptBatches): ranks split each generation batch,
the plan is a function of (seed, epoch) only, and a version's kind is read from its manifest."""

from __future__ import annotations

import pytest
from training_fixtures import build_version

from training import data


@pytest.fixture(scope="module")
def rl_version(tmp_path_factory):
    return build_version(tmp_path_factory.mktemp("rl") / "v", n_train=24, n_eval=4, n_video=4, n_text=4, kind="rl")


def test_ranks_split_each_generation_batch_and_epochs_reshuffle(rl_version):
    version = data.open_version(rl_version)
    assert version.kind == "rl"
    table = version.read_split("train")
    one = data.PromptBatches(table, batch=8, seed=3)
    ranks = [data.PromptBatches(table, batch=8, world=2, rank=r, seed=3) for r in (0, 1)]
    assert one.per_epoch == len(table) // 8 == ranks[0].per_epoch
    for k in range(one.per_epoch + 1):
        assert ranks[0].indices(k) + ranks[1].indices(k) == one.indices(k)  # rank r holds its half, in order
        assert len(ranks[0].indices(k)) == 4
    epoch0 = [i for k in range(one.per_epoch) for i in one.indices(k)]
    assert len(set(epoch0)) == len(epoch0) == one.per_epoch * 8  # an epoch never repeats a pair
    assert one.indices(one.per_epoch) != one.indices(0)  # the next epoch is another permutation
    again = data.PromptBatches(table, batch=8, seed=3)
    assert [again.indices(k) for k in (5, 0, 2)] == [one.indices(k) for k in (5, 0, 2)]  # random access, as on resume
    rows = one.rows(0)
    assert [r["pair_id"] for r in rows] == table.take(one.indices(0)).column("pair_id").to_pylist()


def test_plan_refuses_what_cannot_be_split(rl_version):
    table = data.open_version(rl_version).read_split("train")
    with pytest.raises(ValueError, match="does not split over 3 ranks"):
        data.PromptBatches(table, batch=8, world=3)
    with pytest.raises(ValueError, match="cannot fill one generation batch of 64"):
        data.PromptBatches(table, batch=64)
    single = data.PromptBatches(table, batch=8, batching="single-dataset")
    assert single.unused == {"ShapesText": 4, "ShapesVideo": 4}
    assert all(len({table["dataset_name"][i].as_py() for i in single.indices(k)}) == 1 for k in range(single.per_epoch))
