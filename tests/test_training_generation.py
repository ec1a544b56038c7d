"""training/generation.py on the tiny model: sampled and greedy completions, their fields, and their embeddings."""

from __future__ import annotations

import math

import pytest
import torch
from rollout_fixtures import small_version, steer, steered_dir  # noqa: F401  (pytest fixtures)

from training import data
from training import generation as G
from training import model as M
from umedata.format import GEN_EMB, IM_END

torch.set_num_threads(1)
CAP = 12


@pytest.fixture(scope="module")
def setup(steered_dir, small_version):
    version = data.open_version(small_version)
    rows = version.read_split("train").to_pylist()
    hf, tok = M.load(str(steered_dir))
    ids = M.add_embedding_tokens(hf, tok)
    net = M.EmbeddingModel(hf, ids["<disc_emb>"], ids["<gen_emb>"]).eval()
    renderer = data.Renderer(str(steered_dir), tok, media_root=version.media_root())
    by_kind = {}
    for row in rows:
        by_kind.setdefault(row["modality"], data.sides_of_row(row)[0])
    caption = data.sides_of_row(rows[0])[1]
    sides = [by_kind["image"], by_kind["video"], by_kind["text"], caption]
    return net, tok, renderer, G.prompts(renderer, sides)


def test_sampled_rows_fields_and_finish_reasons(setup):
    net, tok, renderer, prompts = setup
    eos, gen_id = tok.convert_tokens_to_ids(IM_END), tok.convert_tokens_to_ids(GEN_EMB)
    out = G.sample(net, tok, prompts, G.Sampling(k=4, max_completion_length=CAP, seed=3))
    n = len(prompts) * 4
    assert len(out) == n and out.disc.shape == out.gen.shape == (n, 64) and out.gen_found.shape == (n,)
    assert out.prompt_index == [i // 4 for i in range(n)] and out.sample_index == [i % 4 for i in range(n)]
    assert torch.allclose(out.gen.norm(dim=-1), torch.ones(n)) and torch.allclose(out.disc.norm(dim=-1), torch.ones(n))
    for i in range(n):
        ids = out.completion_ids[i]
        assert out.prompt_tokens[i] == len(prompts[i // 4].rendered["input_ids"])
        assert out.completion_tokens[i] == len(ids) <= CAP
        if out.finish_reason[i] == "stop":  # ends at its first <|im_end|>
            assert ids[-1] == eos and ids.count(eos) == 1
        else:
            assert out.finish_reason[i] == "length" and len(ids) == CAP and eos not in ids
        assert out.gen_found[i].item() == (gen_id in ids)  # the prompt's own <gen_emb> never counts
        assert out.texts[i] == tok.decode(ids, skip_special_tokens=False)
    # the steered model gives both outcomes of both questions, so every branch above ran
    assert set(out.finish_reason) == {"stop", "length"}
    assert 0 < int(out.gen_found.sum()) < n
    assert any(IM_END in t for t in out.texts) and any(GEN_EMB in t for t in out.texts)
    # the same side's rows share the prompt, so they share the discriminative embedding
    assert torch.allclose(out.disc[0], out.disc[3], atol=1e-5)


def test_embeddings_are_read_at_the_last_generated_gen_emb_else_the_last_token(setup):
    net, tok, renderer, prompts = setup
    gen_id = tok.convert_tokens_to_ids(GEN_EMB)
    out = G.sample(net, tok, prompts, G.Sampling(k=4, max_completion_length=CAP, seed=3))
    rows = [p.rendered for p in prompts for _ in range(4)]
    batch = G.completion_batch(rows, out.completion_ids, renderer.pad_id)
    with torch.no_grad():
        hidden, _ = net.hidden(batch)
    checked = {True: 0, False: 0}
    for i, ids in enumerate(out.completion_ids):
        start = rows[i]["prompt_len"]
        where = [j for j, t in enumerate(ids) if t == gen_id]
        at = start + (where[-1] if where else len(ids) - 1)
        expected = torch.nn.functional.normalize(hidden[i, at], dim=0)
        assert torch.allclose(out.gen[i], expected, atol=1e-5)
        checked[bool(where)] += 1
    assert checked[True] and checked[False]


def test_completion_batch_labels_exactly_the_completion(setup):
    net, tok, renderer, prompts = setup
    rows = [prompts[0].rendered, prompts[2].rendered]
    completions = [[5, 6, 7], [8]]
    batch = G.completion_batch(rows, completions, renderer.pad_id)
    for i, (r, c) in enumerate(zip(rows, completions)):
        n = r["prompt_len"]
        assert batch["input_ids"][i, : n + len(c)].tolist() == r["input_ids"] + c
        assert batch["labels"][i, n : n + len(c)].tolist() == c
        assert (batch["labels"][i, :n] == -100).all() and (batch["labels"][i, n + len(c):] == -100).all()
        assert batch["completion_mask"][i].nonzero().flatten().tolist() == list(range(n, n + len(c)))
    assert batch["pixel_values"] is not None and batch["image_grid_thw"].shape[0] == 2  # image + blank image
    # GRPO's forward: one token loss per completion token, equal to -log p of that token
    out = net(batch)
    assert out.nll.shape == (4,) and out.nll_seq.tolist() == [0, 0, 0, 1]
    with torch.no_grad():
        hidden, _ = net.hidden(batch)
        n = rows[1]["prompt_len"]
        logp = torch.log_softmax(net.hf.lm_head(hidden[1, n - 1]), -1)[8]
    assert math.isclose(out.nll[3].item(), -logp.item(), rel_tol=1e-4)


def test_greedy_is_deterministic_and_follows_the_argmax(setup):
    net, tok, renderer, prompts = setup
    a = G.sample(net, tok, prompts, G.greedy(CAP))
    b = G.sample(net, tok, prompts[1:2], G.greedy(CAP))
    assert a.completion_ids[1] == b.completion_ids[0]
    assert torch.allclose(a.gen[1], b.gen[0], atol=1e-5)
    # step by step: each token is the argmax of the model's next-token distribution (media placeholders banned)
    rows = [prompts[0].rendered]
    ids = a.completion_ids[0]
    banned = G.media_tokens(net.hf)
    with torch.no_grad():
        hidden, _ = net.hidden(G.completion_batch(rows, [ids], renderer.pad_id))
        n = rows[0]["prompt_len"]
        logits = net.hf.lm_head(hidden[0, n - 1 : n - 1 + len(ids)])
        logits[:, banned] = float("-inf")
    assert logits.argmax(-1).tolist() == ids
    with pytest.raises(ValueError, match="k=1"):
        G.Sampling(k=2, temperature=0)


def test_seeded_sampling_is_reproducible_and_independent_of_the_batch(setup):
    net, tok, renderer, prompts = setup
    s = G.Sampling(k=4, max_completion_length=CAP, seed=11)
    a = G.sample(net, tok, prompts, s)
    assert G.sample(net, tok, prompts, s).completion_ids == a.completion_ids
    # a prompt alone (a resumed run), or with fewer samples, draws exactly what it drew inside the batch
    alone = G.sample(net, tok, prompts[2:3], s)
    assert alone.completion_ids == a.completion_ids[8:12]
    two = G.sample(net, tok, prompts[2:3], G.Sampling(k=2, max_completion_length=CAP, seed=11))
    assert two.completion_ids == a.completion_ids[8:10]
    # the K samples of a side differ, and another seed gives other samples
    assert len({tuple(c) for c in a.completion_ids[8:12]}) > 1
    other = G.sample(net, tok, prompts, G.Sampling(k=4, max_completion_length=CAP, seed=12))
    assert other.completion_ids != a.completion_ids


def test_media_placeholders_are_never_sampled(steered_dir, small_version):
    hf, tok = M.load(str(steered_dir))
    ids = M.add_embedding_tokens(hf, tok)
    steer(hf, tok, {"<|image_pad|>": 6.0, "<|video_pad|>": 6.0})  # now by far the likeliest tokens
    net = M.EmbeddingModel(hf, ids["<disc_emb>"], ids["<gen_emb>"]).eval()
    version = data.open_version(small_version)
    row = version.read_split("train").to_pylist()[0]
    renderer = data.Renderer(str(steered_dir), tok, media_root=version.media_root())
    prompts = G.prompts(renderer, [data.sides_of_row(row)[0]])
    banned = set(G.media_tokens(hf))
    assert banned == {tok.convert_tokens_to_ids("<|image_pad|>"), tok.convert_tokens_to_ids("<|video_pad|>")}
    for sampling in (G.greedy(8), G.Sampling(k=4, max_completion_length=8, seed=0)):
        out = G.sample(net, tok, prompts, sampling)
        assert not banned & {t for c in out.completion_ids for t in c}


# ------------------------------------------------------------------------------------------------- the sampler
def test_draw_follows_the_filtered_distribution():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, float("-inf")]])
    u = (torch.arange(20_000, dtype=torch.float32) + 0.5) / 20_000  # an even grid over [0, 1)
    many = logits.expand(len(u), -1)

    def freq(**kw):
        t = G.draw(many, u, **kw)
        return torch.bincount(t, minlength=5).float() / len(u)

    p = torch.softmax(logits[0, :4], 0)
    assert torch.allclose(freq(temperature=1.0)[:4], p, atol=1e-3)
    assert freq(temperature=1.0)[4] == 0  # zero probability is never drawn, even at u -> 1
    p2 = torch.softmax(logits[0, :4] / 2, 0)
    assert torch.allclose(freq(temperature=2.0)[:4], p2, atol=1e-3)
    assert torch.allclose(freq(temperature=1.0, top_k=2)[:2], torch.softmax(logits[0, :2], 0), atol=1e-3)
    assert freq(temperature=1.0, top_k=2)[2:].sum() == 0
    # top-p 0.7: the smallest top set whose mass reaches 0.7 is {0, 1} (p0 = 0.64 < 0.7, p0 + p1 = 0.88)
    assert p[0] < 0.7 < p[0] + p[1]
    f = freq(temperature=1.0, top_p=0.7)
    assert torch.allclose(f[:2], p[:2] / p[:2].sum(), atol=1e-3) and f[2:].sum() == 0
    assert freq(temperature=1.0, top_p=0.5)[0] == 1  # the first token always stays
    assert freq(temperature=1.0, banned=[0])[0] == 0


def test_uniforms_are_a_pure_function_of_stream_and_step():
    s = G.streams(0, [f"side{i}" for i in range(5000)], 2)
    assert s.shape == (10_000, 2)
    u0, u1 = G.uniforms(s, 0), G.uniforms(s, 1)
    assert torch.equal(u0, G.uniforms(s.clone(), 0))
    assert ((u0 >= 0) & (u0 < 1)).all()
    assert abs(u0.mean().item() - 0.5) < 0.01 and abs(u0.var().item() - 1 / 12) < 0.005
    assert (u0 != u1).float().mean() > 0.99
    assert abs(torch.corrcoef(torch.stack([u0, u1]))[0, 1].item()) < 0.05
    assert torch.equal(G.streams(0, ["side3"], 2), s[6:8])  # a key's streams do not depend on its neighbours
    assert not torch.equal(G.streams(1, ["side3"], 2), s[6:8])


# ------------------------------------------------------------------------------------------------------- vLLM
def _vllm_reason() -> str | None:
    try:
        import vllm  # noqa: F401
    except ImportError:
        return "vllm is not installed (it lives in the GPU environment only)"
    if not torch.cuda.is_available():
        return "no CUDA device"
    return None


@pytest.mark.gpu
@pytest.mark.skipif(_vllm_reason() is not None, reason=str(_vllm_reason()))
def test_vllm_samples_and_the_trainers_model_embeds(steered_dir, small_version):
    version = data.open_version(small_version)
    rows = version.read_split("train").to_pylist()
    hf, tok = M.load(str(steered_dir))
    ids = M.add_embedding_tokens(hf, tok)
    net = M.EmbeddingModel(hf, ids["<disc_emb>"], ids["<gen_emb>"]).cuda().eval()
    renderer = data.Renderer(str(steered_dir), tok, media_root=version.media_root())
    prompts = G.prompts(renderer, [data.sides_of_row(r)[0] for r in rows[:3]])
    backend = G.backend("vllm", net, tok, model_dir=str(steered_dir), renderer=renderer,
                        gpu_memory_utilization=0.2)
    s = G.Sampling(k=2, max_completion_length=CAP, seed=5)
    out = G.sample(net, tok, prompts, s, backend=backend)
    assert len(out) == 6 and out.gen.shape == (6, 64)
    assert all(0 < n <= CAP for n in out.completion_tokens)
    assert G.sample(net, tok, prompts, s, backend=backend).completion_ids == out.completion_ids
    banned = set(G.media_tokens(hf))
    assert not banned & {t for c in out.completion_ids for t in c}


def test_the_embedding_forward_computes_no_vocabulary_logits(setup):
    # rows x completion tokens x vocabulary would not fit for K = 8, 2048-token completions of a 152k vocabulary
    net, tok, renderer, prompts = setup
    rows_seen = []
    hook = net.hf.lm_head.register_forward_hook(lambda m, args, out: rows_seen.append(args[0].shape[0]))
    try:
        disc, gen, found = G.encode(net, [prompts[0].rendered, prompts[1].rendered], [[5, 6, 7], [8, 9]],
                                    renderer.pad_id, batch_size=1)
    finally:
        hook.remove()
    assert gen.shape == (2, 64) and found.tolist() == [False, False]
    assert rows_seen == [0, 0]
