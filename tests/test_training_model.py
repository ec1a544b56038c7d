"""Model loading, the two embedding tokens, and where both embeddings are pooled."""

from __future__ import annotations

import torch
from training_fixtures import tiny_dir, version_dir  # noqa: F401  (pytest fixtures)

from training import data, tiny
from training import model as M
from umedata.format import DISC_EMB, GEN_EMB, INIT_FROM

torch.set_num_threads(1)


# ------------------------------------------------------------------------------------------------------- tokens
def test_tokens_added_once_and_initialised_from_existing_rows(tiny_dir):
    hf, tok = M.load(str(tiny_dir))
    n_tok, rows = len(tok), hf.get_input_embeddings().weight.shape[0]
    ids = M.add_embedding_tokens(hf, tok)
    assert set(ids) == {DISC_EMB, GEN_EMB}
    emb, out = hf.get_input_embeddings().weight, hf.get_output_embeddings().weight
    for token, src in INIT_FROM.items():
        src_id = tok.convert_tokens_to_ids(src)
        assert torch.equal(emb[ids[token]], emb[src_id])
        assert torch.equal(out[ids[token]], out[src_id])  # the tiny model is untied: its output row too
    before = emb.clone()
    assert M.add_embedding_tokens(hf, tok) == ids  # a second call adds nothing ...
    assert (len(tok), hf.get_input_embeddings().weight.shape[0]) == (n_tok, rows)
    assert torch.equal(hf.get_input_embeddings().weight, before)  # ... and re-initialises nothing
    # the text form of each token is one id
    assert tok(f"a{DISC_EMB}b{GEN_EMB}", add_special_tokens=False)["input_ids"].count(ids[GEN_EMB]) == 1


def test_trained_rows_survive_save_and_reload(tiny_dir, tmp_path):
    hf, tok = M.load(str(tiny_dir))
    gen = tok.convert_tokens_to_ids(GEN_EMB)
    with torch.no_grad():
        hf.get_input_embeddings().weight[gen] = 0.5
    hf.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    hf2, tok2 = M.load(str(tmp_path))
    assert len(tok2) == len(tok)
    assert torch.all(hf2.get_input_embeddings().weight[gen] == 0.5)


def test_embedding_matrix_grows_only_when_the_ids_do_not_fit(tmp_path):
    tok = tiny.build_tokenizer()
    from transformers import AutoModelForImageTextToText

    hf = AutoModelForImageTextToText.from_config(tiny.build_config(tok, vocab_multiple=1))
    assert hf.get_input_embeddings().weight.shape[0] == len(tok)
    ids = M.add_embedding_tokens(hf, tok)
    assert hf.get_input_embeddings().weight.shape[0] == len(tok) > max(ids.values())
    assert hf.get_output_embeddings().weight.shape[0] == len(tok)


# ------------------------------------------------------------------------------------------------------ pooling
DISC, GEN, PAD, END = 10, 11, 0, 2


def _row(prompt: list[int], completion: list[int], length: int, left: bool):
    ids = prompt + completion
    pad = [PAD] * (length - len(ids))
    comp = [False] * len(prompt) + [True] * len(completion)
    if left:
        return pad + ids, [0] * len(pad) + [1] * len(ids), [False] * len(pad) + comp, len(pad)
    return ids + pad, [1] * len(ids) + [0] * len(pad), comp + [False] * len(pad), 0


def _pool(rows, left: bool):
    length = max(len(p) + len(c) for p, c in rows) + 2
    built = [_row(p, c, length, left) for p, c in rows]
    ids = torch.tensor([b[0] for b in built])
    attention = torch.tensor([b[1] for b in built])
    completion = torch.tensor([b[2] for b in built])
    disc, gen, found = M.pool_positions(ids, attention, completion, DISC, GEN)
    offsets = [b[3] for b in built]
    # back to (row, position within the unpadded sequence)
    as_pos = lambda flat: [(int(f) // length, int(f) % length - offsets[int(f) // length]) for f in flat]  # noqa: E731
    return as_pos(disc), as_pos(gen), found.tolist()


ROWS = [
    # prompt holds the literal <gen_emb> of GEN_PROMPT (index 3): it must be ignored
    ([5, DISC, 6, GEN, 7], [8, GEN, END]),
    # no <gen_emb> in the completion: fall back to its last token
    ([5, DISC, GEN, 7], [8, 9, END]),
    # two in the completion: the last one
    ([DISC, 4], [GEN, 8, GEN, END]),
    # prompt only (generation prompt): the last prompt token
    ([5, 6, DISC, 7, GEN], []),
]


def test_pooling_positions_right_and_left_padding():
    expected_disc = [(0, 1), (1, 1), (2, 0), (3, 2)]
    expected_gen = [(0, 6), (1, 6), (2, 4), (3, 4)]
    expected_found = [True, False, True, False]
    for left in (False, True):
        disc, gen, found = _pool(ROWS, left)
        assert disc == expected_disc, left
        assert gen == expected_gen, left
        assert found == expected_found, left


def test_embeddings_do_not_depend_on_padding_side(tiny_dir, version_dir):
    hf, tok = M.load(str(tiny_dir))
    ids = M.add_embedding_tokens(hf, tok)
    net = M.EmbeddingModel(hf, ids[DISC_EMB], ids[GEN_EMB]).eval()
    version = data.open_version(version_dir)
    rows = version.read_split("train").to_pylist()
    picks = [r for r in rows if r["modality"] == "image"][:2] + [r for r in rows if r["modality"] == "video"][:1]
    picks += [r for r in rows if r["modality"] == "text"][:1]
    renderer = data.Renderer(str(tiny_dir), tok, media_root=version.media_root())
    with torch.no_grad():
        right = net(data.render_pairs(picks, renderer, padding_side="right"))
        left = net(data.render_pairs(picks, renderer, padding_side="left"))
    torch.testing.assert_close(left.disc, right.disc, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(left.gen, right.gen, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(right.disc.norm(dim=-1), torch.ones(len(right.disc)))
    assert right.gen_found.all()


def test_token_losses_are_the_models_own_cross_entropy_on_assistant_tokens(tiny_dir, version_dir):
    """Our per-token NLL at labelled positions equals transformers' CE over the same labels."""
    hf, tok = M.load(str(tiny_dir))
    ids = M.add_embedding_tokens(hf, tok)
    net = M.EmbeddingModel(hf, ids[DISC_EMB], ids[GEN_EMB]).eval()
    version = data.open_version(version_dir)
    row = version.read_split("train").to_pylist()[0]
    renderer = data.Renderer(str(tiny_dir), tok, media_root=version.media_root())
    batch = data.render_pairs([row], renderer)
    with torch.no_grad():
        out = net(batch)
        first = int(batch["image_grid_thw"][0].prod())  # the query's image (the caption target has the blank one)
        ref = hf(input_ids=batch["input_ids"][:1], attention_mask=batch["attention_mask"][:1],
                 mm_token_type_ids=batch["mm_token_type_ids"][:1], pixel_values=batch["pixel_values"][:first],
                 image_grid_thw=batch["image_grid_thw"][:1], labels=batch["labels"][:1])
    mine = out.nll[out.nll_seq == 0]
    assert len(mine) == int((batch["labels"][0] != -100).sum())
    torch.testing.assert_close(mine.mean(), ref.loss, atol=1e-5, rtol=1e-5)
