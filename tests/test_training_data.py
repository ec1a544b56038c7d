"""Reading a version directory, rendering sides, media inputs, collation and the batch plan."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections import Counter

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from training_fixtures import build_version, tiny_dir, version_dir  # noqa: F401  (pytest fixtures)

from training import data, video
from training import model as M
from umedata.format import GEN_EMB, GEN_PROMPT, IM_END, assistant_text

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tok(tiny_dir):
    _, tokenizer = M.load(str(tiny_dir))
    return tokenizer


def renderer_for(tiny_dir, tok, version, **kw):
    return data.Renderer(str(tiny_dir), tok, media_root=version.media_root(), **kw)


def rows_of(version, split="train"):
    return version.read_split(split).to_pylist()


# --------------------------------------------------------------------------------------------- version directory
def test_reference_and_embedded_media_render_identically(tmp_path, tiny_dir, tok):
    ref = data.open_version(build_version(tmp_path / "ref", n_train=24, n_eval=4, n_video=2, n_text=2))
    emb = data.open_version(build_version(tmp_path / "emb", embedded=True, n_train=24, n_eval=4, n_video=2, n_text=2))
    assert ref.media_root() is not None and emb.media_root() is None
    a, b = rows_of(ref), rows_of(emb)
    assert a[0]["qry_images"][0]["bytes"] is None and b[0]["qry_images"][0]["bytes"] is not None
    picks = lambda rows: [r for r in rows if r["modality"] == m][:1]  # noqa: E731
    for m in ("image", "video", "text"):
        x = data.render_pairs(picks(a), renderer_for(tiny_dir, tok, ref))
        y = data.render_pairs(picks(b), renderer_for(tiny_dir, tok, emb))
        for key in ("input_ids", "labels", "pixel_values", "pixel_values_videos", "video_grid_thw"):
            if x[key] is None:
                assert y[key] is None
            else:
                assert torch.equal(x[key], y[key]), (m, key)


def test_version_through_an_fsspec_url(version_dir, tiny_dir, tok):
    version = data.open_version(f"file://{version_dir}")
    assert version.media_root().startswith("file://")
    row = [r for r in rows_of(version) if r["modality"] == "image"][0]
    batch = data.render_pairs([row], renderer_for(tiny_dir, tok, version))
    assert batch["pixel_values"] is not None


def test_unknown_format_version_is_refused(tmp_path, version_dir):
    bad = tmp_path / "bad"
    shutil.copytree(version_dir, bad)
    manifest = json.loads((bad / "manifest.json").read_text())
    (bad / "manifest.json").write_text(json.dumps({**manifest, "format_version": "ume-r1/999"}))
    with pytest.raises(ValueError, match="ume-r1/999"):
        data.open_version(bad)
    # a row written in an unknown format is refused too, even under a known manifest
    (bad / "manifest.json").write_text(json.dumps(manifest))
    shard = bad / manifest["splits"]["eval"][0]
    table = pq.read_table(shard)
    col = table.schema.get_field_index("format_version")
    table = table.set_column(col, "format_version", [["ume-r1/999"] * table.num_rows])
    pq.write_table(table, shard)
    with pytest.raises(ValueError, match="ume-r1/999"):
        data.open_version(bad).read_split("eval")


# ---------------------------------------------------------------------------------------------------- rendering
def test_only_assistant_tokens_are_labelled(version_dir, tiny_dir, tok):
    version = data.open_version(version_dir)
    row = rows_of(version)[0]
    r = renderer_for(tiny_dir, tok, version).render(data.sides_of_row(row)[0])
    labels, ids = r["labels"], r["input_ids"]
    first = next(i for i, x in enumerate(labels) if x != data.IGNORE)
    assert first == r["prompt_len"]
    assert all(x == data.IGNORE for x in labels[:first]) and labels[first:] == ids[first:]
    assert tok.decode(ids[:first]).endswith("<|im_start|>assistant\n")
    assert tok.decode(labels[first:]) == assistant_text(row["qry_reasoning"], row["qry_summary"]) + IM_END
    gen, end = tok.convert_tokens_to_ids([GEN_EMB, IM_END])
    assert labels[-2:] == [gen, end]  # <gen_emb> and <|im_end|> are learned ...
    assert gen in ids[:first]  # ... while the prompt's own "<gen_emb>" (GEN_PROMPT) is not


def test_right_padding_and_media_placeholders_match_the_pixels(version_dir, tiny_dir, tok):
    version = data.open_version(version_dir)
    rows = rows_of(version)
    picks = [r for r in rows if r["modality"] == "image"][:2] + [r for r in rows if r["modality"] == "video"][:1]
    renderer = renderer_for(tiny_dir, tok, version)
    batch = data.render_pairs(picks, renderer)
    att = batch["attention_mask"]
    assert torch.all(att[:, 0] == 1)
    assert torch.all(att[:, 1:] <= att[:, :-1])  # ones then zeros: right padded
    merge = renderer.image_processor.merge_size ** 2
    n_image = int((batch["input_ids"] == renderer.image_pad).sum())
    n_video = int((batch["input_ids"] == renderer.video_pad).sum())
    assert n_image == int(batch["image_grid_thw"].prod(-1).sum()) // merge
    assert n_video == int(batch["video_grid_thw"].prod(-1).sum()) // merge
    assert torch.equal(batch["mm_token_type_ids"] == 1, batch["input_ids"] == renderer.image_pad)
    assert torch.equal(batch["mm_token_type_ids"] == 2, batch["input_ids"] == renderer.video_pad)


def test_video_is_one_input_with_an_even_frame_count(version_dir, tiny_dir, tok):
    version = data.open_version(version_dir)
    row = [r for r in rows_of(version) if r["modality"] == "video"][0]
    assert len(row["qry_video"]) == 3
    r = renderer_for(tiny_dir, tok, version).render(data.sides_of_row(row)[0])
    assert r["video_grid_thw"].shape == (1, 3)
    assert r["video_grid_thw"][0, 0] == 2  # 3 frames -> 4 (last repeated) -> 2 temporal patches
    assert r["pixel_values"] is None
    assert video.even_frames([1, 2, 3]) == [1, 2, 3, 3] and video.even_frames([1, 2]) == [1, 2]


def test_video_arithmetic_equals_the_image_processor(tiny_dir, tok):
    """Two equal frames are what the image processor makes of one image (it repeats it over time)."""
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (70, 100, 3), dtype=np.uint8))
    renderer = data.Renderer(str(tiny_dir), tok, min_pixels=784, max_pixels=28 * 28 * 16)
    ref = renderer.image_processor(images=[img], return_tensors="np")
    pixels, grid = video.video_inputs([img, img], 784, 28 * 28 * 16)
    assert grid.tolist() == ref["image_grid_thw"][0].tolist()
    np.testing.assert_allclose(pixels, ref["pixel_values"], atol=1e-6)


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is None, reason="torchvision not installed")
def test_video_arithmetic_equals_the_transformers_video_processor():
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (56, 84, 3), dtype=np.uint8) for _ in range(3)]  # sizes already on the grid
    proc = Qwen2VLVideoProcessor(min_pixels=784, max_pixels=28 * 28 * 16)
    ref = proc(videos=[np.stack(frames)], return_tensors="np", cap_pixels_per_frame=False, do_sample_frames=False)
    pixels, grid = video.video_inputs([Image.fromarray(f) for f in frames], 784, 28 * 28 * 16)
    assert grid.tolist() == np.asarray(ref["video_grid_thw"])[0].tolist()
    np.testing.assert_allclose(pixels, np.asarray(ref["pixel_values_videos"]), atol=1e-4)


def test_text_only_sides_get_the_blank_image_by_default(version_dir, tiny_dir, tok):
    version = data.open_version(version_dir)
    row = [r for r in rows_of(version) if r["modality"] == "text"][0]
    side = data.sides_of_row(row)[0]
    blank = renderer_for(tiny_dir, tok, version).render(side)  # the reference's default
    plain = renderer_for(tiny_dir, tok, version, blank_image=False).render(side)
    assert plain["pixel_values"] is None
    assert blank["image_grid_thw"].tolist() == [[1, 2, 2]]  # 28x28 -> 2x2 patches -> one merged token
    assert blank["input_ids"].count(blank_id := tok.convert_tokens_to_ids("<|image_pad|>")) == 1
    assert blank_id not in plain["input_ids"]


# ---------------------------------------------------------------------------------------------------- truncation
LONG_TEXT = "Find the caption of this image. " + "The red circle is near the top left corner. " * 30 + "Last part."
LONG_REASONING = "First I see a red circle. " + "a green triangle is below it. " * 40 + "So it is red."


def _long_side(text=LONG_TEXT, reasoning=LONG_REASONING):
    return data.Side("side-long", text, reasoning=reasoning, summary="a red circle")


def _one_block_removed(full: list[int], cut: list[int]) -> tuple[int, int]:
    """(a, b) with cut == full[:a] + full[b:]: asserts that exactly one contiguous block was removed."""
    a = next(i for i, (x, y) in enumerate(zip(full, cut)) if x != y)
    b = len(full) - (len(cut) - a)
    assert cut == full[:a] + full[b:]
    return a, b


def test_a_side_that_fits_is_not_cut(tiny_dir, tok):
    side = _long_side()
    full = data.Renderer(str(tiny_dir), tok).render(side)
    exact = data.Renderer(str(tiny_dir), tok, max_length=len(full["input_ids"])).render(side)
    assert exact["input_ids"] == full["input_ids"] and exact["cut"] == {"reasoning": 0, "text": 0}
    # the normal path tokenises the prompt and the completion each as one string, as before
    completion = tok(assistant_text(LONG_REASONING, "a red circle") + IM_END, add_special_tokens=False)["input_ids"]
    assert full["labels"][full["prompt_len"]:] == completion


def test_truncation_cuts_the_middle_of_the_reasoning_first(tiny_dir, tok):
    side = _long_side()
    full = data.Renderer(str(tiny_dir), tok).render(side)
    n = len(full["input_ids"])
    r = data.Renderer(str(tiny_dir), tok, max_length=n - 100).render(side)
    assert len(r["input_ids"]) == n - 100 and r["cut"] == {"reasoning": 100, "text": 0}
    p = r["prompt_len"]
    assert p == full["prompt_len"] and r["input_ids"][:p] == full["input_ids"][:p]  # the prompt is untouched
    gen, end = tok.convert_tokens_to_ids([GEN_EMB, IM_END])
    assert r["input_ids"][-2:] == [gen, end] and r["labels"] == [data.IGNORE] * p + r["input_ids"][p:]
    comp_full, comp = full["input_ids"][full["prompt_len"]:], r["input_ids"][p:]
    a, b = _one_block_removed(comp_full, comp)
    assert b - a == 100
    assert tok.decode(comp_full[a:b]) in LONG_REASONING  # only reasoning went ...
    assert tok.decode(comp[:a]).startswith("<think>First I see a red circle.")  # ... from its middle:
    assert tok.decode(comp[a:]).endswith("So it is red.</think><answer>a red circle<gen_emb><|im_end|>")
    assert abs(a - (len(comp) - a)) <= 20  # head and tail kept in about equal parts (the tail carries the summary)


def test_truncation_cuts_the_sides_own_text_when_the_reasoning_is_not_enough(version_dir, tiny_dir, tok):
    version = data.open_version(version_dir)
    side = _long_side()
    side.images = data.sides_of_row([r for r in rows_of(version) if r["modality"] == "image"][0])[0].images
    renderer = renderer_for(tiny_dir, tok, version)
    full = renderer.render(side)
    limit = full["prompt_len"] - 50
    r = renderer_for(tiny_dir, tok, version, max_length=limit).render(side)
    assert len(r["input_ids"]) == limit and r["cut"]["text"] > 0 and r["cut"]["reasoning"] > 0
    gen, end, disc = tok.convert_tokens_to_ids([GEN_EMB, IM_END, "<disc_emb>"])
    assert r["input_ids"][-2:] == [gen, end]
    prompt, prompt_full = r["input_ids"][: r["prompt_len"]], full["input_ids"][: full["prompt_len"]]
    a, b = _one_block_removed(prompt_full, prompt)
    assert tok.decode(prompt_full[a:b]) in LONG_TEXT  # only the side's own text went, from its middle:
    assert "<|vision_end|>Find the caption of this image. The red circle is" in tok.decode(prompt[:a])
    start = prompt.index(tok.convert_tokens_to_ids("<|vision_end|>")) + 1
    assert abs((a - start) - (prompt.index(disc) - a)) <= 3  # about as much text kept at its head as at its tail
    tail = tok.decode(prompt[a:])
    assert tail.endswith(f"Last part.\n<disc_emb>\n{GEN_PROMPT}<|im_end|>\n<|im_start|>assistant\n")
    n_media = int(full["image_grid_thw"].prod()) // renderer.merge  # every media placeholder stays
    assert prompt.count(renderer.image_pad) == full["input_ids"].count(renderer.image_pad) == n_media
    assert prompt.count(disc) == 1 and np.array_equal(r["pixel_values"], full["pixel_values"])
    # every completion token left is still labelled, and the kept completion is the untruncated one's ends
    comp = r["input_ids"][r["prompt_len"]:]
    assert r["labels"][r["prompt_len"]:] == comp
    assert tok.decode(comp).endswith("</think><answer>a red circle<gen_emb><|im_end|>")


def test_a_prompt_only_render_cuts_only_the_text(tiny_dir, tok):
    side = _long_side()
    full = data.Renderer(str(tiny_dir), tok).render(side, completion=False)
    r = data.Renderer(str(tiny_dir), tok, max_length=full["prompt_len"] - 30).render(side, completion=False)
    assert r["cut"] == {"reasoning": 0, "text": 30} and len(r["input_ids"]) == r["prompt_len"] == full["prompt_len"] - 30


def test_a_side_that_cannot_fit_is_a_clear_error(tiny_dir, tok):
    with pytest.raises(ValueError, match=r"side side-long does not fit max_length 40: .* prompt is still \d+ tokens"):
        data.Renderer(str(tiny_dir), tok, max_length=40).render(_long_side())


def test_pixel_bounds(version_dir, tiny_dir, tok):
    version = data.open_version(version_dir)
    row = [r for r in rows_of(version) if r["modality"] == "image"][0]
    side = data.sides_of_row(row)[0]
    small = renderer_for(tiny_dir, tok, version, max_pixels=28 * 28).render(side)
    large = renderer_for(tiny_dir, tok, version, min_pixels=112 * 112).render(side)
    assert small["image_grid_thw"][0].prod() * 14 * 14 <= 28 * 28
    assert large["image_grid_thw"][0].prod() * 14 * 14 >= 112 * 112


def test_hard_negatives_are_prompt_only_extra_sequences(version_dir, tiny_dir, tok):
    version = data.open_version(version_dir)
    rows = [r for r in rows_of(version) if r["negatives"]][:3]
    batch = data.render_pairs(rows, renderer_for(tiny_dir, tok, version), hard_negatives=1)
    assert batch["input_ids"].shape[0] == 3 * 3
    assert batch["neg_of"].tolist() == [0, 1, 2]
    assert torch.all(batch["labels"][6:] == data.IGNORE)
    assert not batch["completion_mask"][6:].any()


# ---------------------------------------------------------------------------------------------------- batch plan
@pytest.mark.parametrize("batching", data.BATCHING)
def test_batch_plan_is_deterministic_per_seed_and_epoch(batching):
    datasets = ["a"] * 30 + ["b"] * 20
    one = data.plan_epoch(datasets, 8, seed=3, epoch=0, batching=batching)
    assert one == data.plan_epoch(datasets, 8, seed=3, epoch=0, batching=batching)
    assert one != data.plan_epoch(datasets, 8, seed=4, epoch=0, batching=batching)
    assert one != data.plan_epoch(datasets, 8, seed=3, epoch=1, batching=batching)
    # incomplete batches are dropped: mixed 50 // 8; single-dataset 30 // 8 + 20 // 8
    assert len(one) == {"mixed": 6, "single-dataset": 3 + 2}[batching] and all(len(b) == 8 for b in one)
    flat = [i for b in one for i in b]
    assert len(set(flat)) == len(flat)


def test_single_dataset_batches_are_the_default():
    datasets = ["a"] * 30 + ["b"] * 20 + ["c"] * 3
    plan = data.plan_epoch(datasets, 4, seed=0, epoch=0)
    assert plan == data.plan_epoch(datasets, 4, seed=0, epoch=0, batching="single-dataset")
    assert all(len({datasets[i] for i in b}) == 1 for b in plan)
    assert Counter(datasets[b[0]] for b in plan) == {"a": 7, "b": 5}  # "c" cannot fill a batch
    assert len({datasets[b[0]] for b in plan[:6]}) == 2  # the datasets' batches are interleaved, not in blocks
    mixed = data.plan_epoch(datasets, 4, seed=0, epoch=0, batching="mixed")
    assert any(len({datasets[i] for i in b}) > 1 for b in mixed)
    with pytest.raises(ValueError, match="batching"):
        data.plan_epoch(datasets, 4, seed=0, epoch=0, batching="single_dataset")


def test_pair_batches_name_the_datasets_single_dataset_batching_never_draws(version_dir, tiny_dir, tok):
    version = data.open_version(version_dir)
    table = version.read_split("train")  # 96 image pairs, 8 video, 8 text
    renderer = renderer_for(tiny_dir, tok, version)
    single = data.PairBatches(table, renderer, micro_batch=6, world=2, seed=1)
    assert single.batching == "single-dataset"
    assert single.unused == {"ShapesText": 8, "ShapesVideo": 8}  # fewer rows than one global batch of 12
    assert single.per_epoch == 96 // 12
    assert all(len({single.datasets[i] for i in single.rows(k)}) == 1 for k in range(single.per_epoch))
    mixed = data.PairBatches(table, renderer, micro_batch=6, world=2, seed=1, batching="mixed")
    assert mixed.unused == {} and mixed.per_epoch == 112 // 12


def test_one_dataset_per_optimiser_step_across_accumulation(version_dir, tiny_dir, tok):
    """The global batch is micro-batch x world x accum: all micro-batches of one step come from one dataset, and
    accumulating 2 x 3 pairs serves exactly what one micro-batch of 6 would."""
    version = data.open_version(version_dir)
    table = version.read_split("train")
    renderer = renderer_for(tiny_dir, tok, version)
    acc = data.PairBatches(table, renderer, micro_batch=3, seed=2, accum=2)
    whole = data.PairBatches(table, renderer, micro_batch=6, seed=2)
    assert acc.global_batch == whole.global_batch == 6 and acc.per_epoch == 2 * whole.per_epoch
    for step in (0, 1, whole.per_epoch + 1):  # across an epoch boundary too
        assert acc.rows(2 * step) + acc.rows(2 * step + 1) == whole.rows(step)
        assert len({acc.datasets[i] for i in acc.rows(2 * step) + acc.rows(2 * step + 1)}) == 1
    ranks = [data.PairBatches(table, renderer, micro_batch=3, world=2, rank=r, seed=2, accum=2) for r in range(2)]
    assert ranks[0].unused == {"ShapesText": 8, "ShapesVideo": 8}  # smaller than the global batch of 12
    step = [ranks[r].rows(k) for k in (0, 1) for r in (0, 1)]
    assert len({ranks[0].datasets[i] for rows in step for i in rows}) == 1 and len({i for r in step for i in r}) == 12


def test_ranks_split_each_global_batch(version_dir, tiny_dir, tok):
    version = data.open_version(version_dir)
    table = version.read_split("train")
    renderer = renderer_for(tiny_dir, tok, version)
    ranks = [data.PairBatches(table, renderer, micro_batch=3, world=2, rank=r, seed=5) for r in range(2)]
    whole = data.PairBatches(table, renderer, micro_batch=6, world=1, rank=0, seed=5)
    for k in (0, 1, whole.per_epoch + 2):  # across an epoch boundary too
        assert ranks[0].rows(k) + ranks[1].rows(k) == whole.rows(k)
        assert not set(ranks[0].rows(k)) & set(ranks[1].rows(k))


def test_media_paths_resolve_under_relative_roots_and_urls():
    assert data.join("s3://bucket/versions/abc", "../../media") == "s3://bucket/media"
    assert data.join("/store/versions/abc", "../../media") == "/store/media"
    assert data.join("/store/versions/abc", "media") == "/store/versions/abc/media"
    assert data.join("/anything", "/abs/x.png") == "/abs/x.png"
    assert data.join("/anything", "gs://b/x.png") == "gs://b/x.png"
