"""Dataset version directory -> rendered, collated micro-batches.

A version directory (docs/interfaces.md) is manifest.json + parquet shards, on a local path or an fsspec URL; media
are either embedded as bytes or referenced relative to the manifest's `media_root`. This module:

  * opens a version and refuses a format_version it does not know (umedata.format.check_format_version);
  * renders one side (query, target or hard negative) the way umedata.format defines it, through the model's own
    chat template: the prompt is the user turn plus "<|im_start|>assistant\\n", the completion is
    assistant_text(...) + "<|im_end|>" tokenised on its own (as generation will produce it), and only completion
    tokens carry labels, so <gen_emb> and <|im_end|> are learned and system/user turns are not;
  * fits a side into max_length without losing what the losses read: it cuts the middle of the reasoning first
    (its head and tail stay, and so does "</think><answer>{summary}<gen_emb><|im_end|>"), then the middle of the
    side's own text in the prompt (never media placeholders, <disc_emb> or the generation prompt); a side that
    fits is tokenised exactly as it would be without this step;
  * turns images into pixel patches with the model's image processor (pixel bounds configurable), a video's
    frames into ONE video input with training.video (even frame count), and gives text-only sides a blank 28x28
    white image, as the reference does (on by default; released checkpoints expect it);
  * collates sequences [queries..., targets..., negatives...] with right padding for training or left padding
    for generation;
  * plans batches deterministically from (seed, epoch): a micro-batch is addressed by its global index, so a
    resumed run asks for batch k and gets exactly what the interrupted run would have. Each global batch comes
    from one dataset by default (the reference's grouping), or from all of them mixed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from PIL import Image

from training.video import video_inputs
from umedata.format import IM_END, THINK_OPEN, assistant_text, check_format_version, render_side, user_text

IGNORE = -100
BATCHING = ("single-dataset", "mixed")


# ----------------------------------------------------------------------------------------------- version directory
@dataclass
class Version:
    root: str  # local path or fsspec URL of the version directory
    manifest: dict

    @property
    def version_id(self) -> str:
        return self.manifest["version_id"]

    @property
    def kind(self) -> str | None:
        """"sft", "rl", ... as umedata.versions wrote it; None for a hand-made directory."""
        return self.manifest.get("kind")

    def media_root(self) -> str | None:
        root = self.manifest.get("media_root")
        return None if root is None else join(self.root, root)

    def read_split(self, split: str):
        """All shards of a split as one pyarrow table (an empty split is an error: nothing to train or score)."""
        shards = self.manifest["splits"].get(split) or []
        if not shards:
            raise ValueError(f"version {self.version_id} has no {split!r} split (has {list(self.manifest['splits'])})")
        tables = []
        for rel in shards:
            with fsspec.open(join(self.root, rel), "rb") as f:
                tables.append(pq.read_table(f))
        table = pa.concat_tables(tables, promote_options="default")
        for fv in set(table.column("format_version").to_pylist()):
            check_format_version(fv)
        return table


def join(base: str, rel: str) -> str:
    """`rel` under `base` (a path or URL), with ".." resolved (media roots like "../../media" are common);
    absolute paths and URLs are returned as they are."""
    if "://" in rel or rel.startswith("/"):
        return rel
    if "://" in base:
        protocol, rest = base.split("://", 1)
        return f"{protocol}://{posixpath.normpath(posixpath.join(rest, rel))}"
    return os.path.normpath(os.path.join(base, rel))


def open_version(path: str | Path) -> Version:
    root = str(path).rstrip("/")
    with fsspec.open(join(root, "manifest.json")) as f:
        manifest = json.load(f)
    check_format_version(manifest.get("format_version", "<missing>"))
    return Version(root=root, manifest=manifest)


# ------------------------------------------------------------------------------------------------------------ sides
@dataclass
class Side:
    side_id: str
    text: str
    images: list = field(default_factory=list)  # list of {"bytes", "path"}
    video: list = field(default_factory=list)  # frames of one video, each {"bytes", "path"}
    reasoning: str | None = None
    summary: str | None = None


def sides_of_row(row: dict, hard_negatives: int = 0) -> tuple[Side, Side, list[Side]]:
    """Query, positive target and up to `hard_negatives` source negatives of one parquet row."""
    def side(p):
        return Side(row[f"{p}_side_id"], row[f"{p}_text"] or "", row[f"{p}_images"] or [], row[f"{p}_video"] or [],
                    row[f"{p}_reasoning"], row[f"{p}_summary"])

    # Negatives carry no annotation: they are prompt-only and enter the discriminative loss only.
    negs = [Side(n["side_id"], n["text"] or "", n.get("images") or [])
            for n in (row.get("negatives") or [])[:hard_negatives]]
    return side("qry"), side("pos"), negs


def side_key(side_id: str) -> int:
    """A 63-bit integer for a side id, so equal sides can be compared across ranks as tensors."""
    return int(hashlib.sha256(side_id.encode()).hexdigest()[:15], 16)


def blank_image() -> Image.Image:
    return Image.new("RGB", (28, 28), (255, 255, 255))


# --------------------------------------------------------------------------------------------------------- renderer
def add_render_args(ap) -> None:
    """The flags every entry point that renders sides takes (the reference's values are the defaults)."""
    ap.add_argument("--min-pixels", type=int, default=784)
    ap.add_argument("--max-pixels", type=int, default=2_359_296)
    ap.add_argument("--video-max-pixels", type=int, default=None)
    ap.add_argument("--max-length", type=int, default=12_288,
                    help="tokens per side (a longer side loses the middle of its reasoning, then of its text)")
    ap.add_argument("--blank-image", action=argparse.BooleanOptionalAction, default=True,
                    help="a 28x28 white image on text-only sides, as the reference (and its checkpoints) expect")


class Renderer:
    """Side -> token ids, labels and pixel inputs, with the model folder's own tokenizer, template and processor."""

    def __init__(self, model_dir: str, tokenizer, media_root: str | None = None, min_pixels: int = 784,
                 max_pixels: int = 2_359_296, video_max_pixels: int | None = None, blank_image: bool = True,
                 max_length: int = 12_288):
        from transformers import AutoImageProcessor

        self.tokenizer = tokenizer
        self.image_processor = AutoImageProcessor.from_pretrained(
            model_dir, backend="pil", min_pixels=min_pixels, max_pixels=max_pixels)
        self.chat_template = _chat_template(model_dir) or tokenizer.chat_template
        if not self.chat_template:
            raise ValueError(f"{model_dir} has no chat template")
        self.media_root = media_root
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        self.video_max_pixels = video_max_pixels or max_pixels
        self.blank_image = blank_image
        self.max_length = max_length
        ids = tokenizer.convert_tokens_to_ids
        self.image_pad, self.video_pad = ids("<|image_pad|>"), ids("<|video_pad|>")
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else ids("<|endoftext|>")
        self.merge = self.image_processor.merge_size ** 2
        # Truncation never removes an added token (<disc_emb>, <gen_emb>, media placeholders, chat markers).
        self.protected = set(tokenizer.added_tokens_decoder)

    @classmethod
    def from_args(cls, model_dir: str, tokenizer, media_root: str | None, args) -> Renderer:
        """A renderer with the settings of add_render_args' flags."""
        return cls(model_dir, tokenizer, media_root=media_root, min_pixels=args.min_pixels, max_pixels=args.max_pixels,
                   video_max_pixels=args.video_max_pixels, blank_image=args.blank_image, max_length=args.max_length)

    def load_image(self, ref: dict) -> Image.Image:
        if ref.get("bytes") is not None:
            return Image.open(io.BytesIO(ref["bytes"])).convert("RGB")
        path = ref["path"] if self.media_root is None else join(self.media_root, ref["path"])
        with fsspec.open(path, "rb") as f:
            return Image.open(io.BytesIO(f.read())).convert("RGB")

    def render(self, side: Side, completion: bool = True) -> dict:
        images = [self.load_image(r) for r in side.images]
        frames = [self.load_image(r) for r in side.video]
        if not images and not frames and self.blank_image:
            images = [blank_image()]
        messages = render_side(side.text, n_images=len(images), video=bool(frames))
        prompt = self.tokenizer.apply_chat_template(
            messages, chat_template=self.chat_template, tokenize=False, add_generation_prompt=True)
        prompt_ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]

        out = {"pixel_values": None, "image_grid_thw": None, "pixel_values_videos": None, "video_grid_thw": None}
        n_per_image: list[int] = []
        if images:
            feats = self.image_processor(images=images, return_tensors="np")
            out["pixel_values"], out["image_grid_thw"] = feats["pixel_values"], feats["image_grid_thw"]
            n_per_image = [int(np.prod(g)) // self.merge for g in feats["image_grid_thw"]]
        n_video = 0
        if frames:
            ip = self.image_processor
            pv, grid = video_inputs(frames, self.min_pixels, self.video_max_pixels, patch_size=ip.patch_size,
                                    merge_size=ip.merge_size, temporal_patch_size=ip.temporal_patch_size,
                                    image_mean=ip.image_mean, image_std=ip.image_std)
            out["pixel_values_videos"], out["video_grid_thw"] = pv, grid[None]
            n_video = int(np.prod(grid)) // self.merge
        comp_text, comp_ids = None, []
        if completion and side.reasoning is not None and side.summary is not None:
            comp_text = assistant_text(side.reasoning, side.summary) + IM_END
            comp_ids = self.tokenizer(comp_text, add_special_tokens=False)["input_ids"]
        # Each placeholder becomes as many tokens as its media has merged patches.
        media = sum(n_per_image) + n_video
        media_extra = media - len(n_per_image) - (1 if frames else 0)
        excess = len(prompt_ids) + media_extra + len(comp_ids) - self.max_length
        cut = {"reasoning": 0, "text": 0}
        if excess > 0:
            prompt_ids, comp_ids, cut = self._fit(side, prompt, prompt_ids, comp_text, comp_ids, excess,
                                                  media_extra, media)
        prompt_ids, mm = self._expand(prompt_ids, n_per_image, n_video)
        out.update(
            input_ids=prompt_ids + comp_ids,
            labels=[IGNORE] * len(prompt_ids) + comp_ids,
            mm_token_type_ids=mm + [0] * len(comp_ids),
            prompt_len=len(prompt_ids),
            cut=cut,
        )
        return out

    def _fit(self, side: Side, prompt: str, prompt_ids: list[int], comp_text: str | None, comp_ids: list[int],
             excess: int, media_extra: int, media: int) -> tuple[list[int], list[int], dict]:
        """Remove `excess` tokens: from the middle of the reasoning first, then from the middle of the side's text.

        Spans are found through the offsets of the whole-string tokenisation, so the kept tokens are the very
        tokens an untruncated render has; only tokens lying wholly inside a span are cut."""
        cut = {"reasoning": 0, "text": 0}
        if comp_ids:
            start = len(THINK_OPEN)
            comp_ids, cut["reasoning"] = self._cut_middle(comp_text, comp_ids, (start, start + len(side.reasoning)),
                                                          excess)
            excess -= cut["reasoning"]
        if excess > 0:
            at = prompt.rfind(user_text(side.text))  # the side's text opens the user turn's text part
            if at >= 0 and side.text:
                prompt_ids, cut["text"] = self._cut_middle(prompt, prompt_ids, (at, at + len(side.text)), excess)
                excess -= cut["text"]
        if excess > 0:
            raise ValueError(
                f"side {side.side_id} does not fit max_length {self.max_length}: after cutting {cut['reasoning']} "
                f"reasoning and {cut['text']} text tokens its prompt is still {len(prompt_ids) + media_extra} tokens "
                f"({media} of them media) and its completion {len(comp_ids)}; raise --max-length or lower "
                "--max-pixels / --video-max-pixels")
        return prompt_ids, comp_ids, cut

    def _cut_middle(self, text: str, ids: list[int], span: tuple[int, int], excess: int) -> tuple[list[int], int]:
        """Drop up to `excess` of the tokens lying wholly inside the character span `span` of `text` (which `ids`
        tokenises), from their middle: as many stay at the head as at the tail (the head one more when odd)."""
        offsets = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        if len(offsets) != len(ids):
            raise ValueError("truncation needs the tokenizer's offsets of the same tokenisation (a fast tokenizer)")
        lo, hi = span
        inside = [i for i, (a, b) in enumerate(offsets) if lo <= a < b <= hi and ids[i] not in self.protected]
        n = min(excess, len(inside))
        if n == 0:
            return ids, 0
        keep = len(inside) - n
        head = keep - keep // 2
        drop = set(inside[head : head + n])
        return [t for i, t in enumerate(ids) if i not in drop], n

    def _expand(self, ids: list[int], n_per_image: list[int], n_video: int) -> tuple[list[int], list[int]]:
        """Replace each media placeholder token by as many copies as the media has merged patches."""
        out, mm, images = [], [], iter(n_per_image)
        for t in ids:
            if t == self.image_pad:
                n = next(images)
                out += [t] * n
                mm += [1] * n
            elif t == self.video_pad:
                out += [t] * n_video
                mm += [2] * n_video
            else:
                out.append(t)
                mm.append(0)
        return out, mm

    def save(self, out: str | Path) -> None:
        """Write the processor-side files next to an exported model (image processor + chat template)."""
        self.image_processor.save_pretrained(out)
        Path(out, "chat_template.jinja").write_text(self.chat_template)


def _chat_template(model_dir: str) -> str | None:
    """The processor's chat template: Qwen-VL folders keep it beside (not inside) the tokenizer config."""
    local = Path(model_dir)
    if local.is_dir():
        if (local / "chat_template.jinja").exists():
            return (local / "chat_template.jinja").read_text()
        if (local / "chat_template.json").exists():
            return json.loads((local / "chat_template.json").read_text())["chat_template"]
        return None
    try:  # a hub name on a machine that has it cached
        from transformers.utils import cached_file

        for name in ("chat_template.jinja", "chat_template.json"):
            path = cached_file(model_dir, name, _raise_exceptions_for_missing_entries=False)
            if path:
                text = Path(path).read_text()
                return text if name.endswith(".jinja") else json.loads(text)["chat_template"]
    except Exception:
        return None
    return None


# ---------------------------------------------------------------------------------------------------------- collate
def to_device(batch: dict, device) -> dict:
    """A collated batch's tensors on `device` (other entries as they are)."""
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def collate(rendered: list[dict], pad_id: int, padding_side: str = "right") -> dict:
    """Pad a list of rendered sequences into one batch; media are concatenated in sequence order."""
    n, length = len(rendered), max(len(r["input_ids"]) for r in rendered)
    input_ids = torch.full((n, length), pad_id, dtype=torch.long)
    labels = torch.full((n, length), IGNORE, dtype=torch.long)
    attention = torch.zeros((n, length), dtype=torch.long)
    mm = torch.zeros((n, length), dtype=torch.int32)
    completion = torch.zeros((n, length), dtype=torch.bool)
    for i, r in enumerate(rendered):
        k = len(r["input_ids"])
        s = slice(0, k) if padding_side == "right" else slice(length - k, length)
        input_ids[i, s] = torch.tensor(r["input_ids"])
        labels[i, s] = torch.tensor(r["labels"])
        attention[i, s] = 1
        mm[i, s] = torch.tensor(r["mm_token_type_ids"], dtype=torch.int32)
        start = s.start + r["prompt_len"]
        completion[i, start : s.start + k] = True
    batch = {"input_ids": input_ids, "attention_mask": attention, "labels": labels, "mm_token_type_ids": mm,
             "completion_mask": completion}
    for key, grid in (("pixel_values", "image_grid_thw"), ("pixel_values_videos", "video_grid_thw")):
        parts = [r for r in rendered if r[key] is not None]
        batch[key] = torch.from_numpy(np.concatenate([r[key] for r in parts])) if parts else None
        batch[grid] = torch.from_numpy(np.concatenate([r[grid] for r in parts])) if parts else None
    return batch


# ----------------------------------------------------------------------------------------------------- batch plan
def plan_epoch(datasets: list[str], global_batch: int, seed: int, epoch: int,
               batching: str = "single-dataset") -> list[list[int]]:
    """Row indices of every global micro-batch of one epoch; a function of (seed, epoch) only.

    Incomplete batches are dropped so every rank always holds the same number of pairs (the gathered InfoNCE
    needs equal shapes). "single-dataset" (the reference's grouping) draws each global batch from one dataset, so
    in-batch negatives are of the positive's own kind; the batches of all datasets are then shuffled together.
    "mixed" shuffles all rows together.
    """
    if batching not in BATCHING:
        raise ValueError(f"batching must be one of {BATCHING}, not {batching!r}")
    rng = np.random.default_rng([seed, epoch])
    if batching == "single-dataset":
        groups: dict[str, list[int]] = {}
        for i, d in enumerate(datasets):
            groups.setdefault(d, []).append(i)
        batches = []
        for name in sorted(groups):
            idx = rng.permutation(groups[name])
            batches += [idx[k : k + global_batch].tolist() for k in range(0, len(idx) - global_batch + 1, global_batch)]
        order = rng.permutation(len(batches))
        return [batches[k] for k in order]
    idx = rng.permutation(len(datasets))
    return [idx[k : k + global_batch].tolist() for k in range(0, len(idx) - global_batch + 1, global_batch)]


class EpochPlans:
    """plan_epoch over a table's rows for batches of `size` pairs, one epoch kept at a time (a run reads its epochs
    in order; a resume may start at any). Says which datasets single-dataset batching never draws (`unused`: those
    smaller than one batch) and refuses a table that cannot fill one batch."""

    def __init__(self, table, size: int, seed: int, batching: str, what: str):
        self.datasets = table.column("dataset_name").to_pylist()
        self.size, self.seed, self.batching = size, seed, batching
        self._kept: dict[int, list[list[int]]] = {}
        self.per_epoch = len(self.epoch(0))  # batches
        sizes: dict[str, int] = {}
        for d in self.datasets:
            sizes[d] = sizes.get(d, 0) + 1
        self.unused = {d: n for d, n in sorted(sizes.items()) if n < size} if batching == "single-dataset" else {}
        if self.per_epoch == 0:
            raise ValueError(f"{len(self.datasets)} rows cannot fill one {what} with --batching {batching} "
                             f"(rows per dataset: {sizes})")

    def epoch(self, epoch: int) -> list[list[int]]:
        if epoch not in self._kept:
            self._kept = {epoch: plan_epoch(self.datasets, self.size, self.seed, epoch, self.batching)}
        return self._kept[epoch]


class PairBatches(torch.utils.data.Dataset):
    """Global micro-batch k (any epoch) -> this rank's collated slice of it.

    The plan is made of optimiser-step batches (micro-batch x world x accum pairs, the reference's "global batch",
    drawn from one dataset under single-dataset batching); step batch s is served as micro-batches s*accum ..
    s*accum + accum - 1, each split across the ranks.

    Sequences are ordered [queries, positive targets, hard negatives]; `n_pairs` splits them, `keys` hold the
    side keys of queries and targets (for the false-negative mask), `neg_of` maps each negative to its pair.
    """

    def __init__(self, table, renderer: Renderer, micro_batch: int, world: int = 1, rank: int = 0, seed: int = 0,
                 batching: str = "single-dataset", hard_negatives: int = 0, accum: int = 1):
        self.table, self.renderer = table, renderer
        self.micro_batch, self.world, self.rank, self.seed, self.accum = micro_batch, world, rank, seed, accum
        self.batching, self.hard_negatives = batching, hard_negatives
        self.global_batch = micro_batch * world * accum
        self.plans = EpochPlans(table, self.global_batch, seed, batching, f"global batch of {self.global_batch}")
        self.datasets, self.unused = self.plans.datasets, self.plans.unused
        self.per_epoch = self.plans.per_epoch * accum  # micro-batches

    def rows(self, k: int) -> list[int]:
        epoch, r = divmod(k, self.per_epoch)
        step, micro = divmod(r, self.accum)
        start = (micro * self.world + self.rank) * self.micro_batch
        return self.plans.epoch(epoch)[step][start : start + self.micro_batch]

    def __len__(self) -> int:
        return 1 << 62  # addressed by global index across epochs

    def __getitem__(self, k: int) -> dict:
        rows = [self.table.slice(i, 1).to_pylist()[0] for i in self.rows(k)]
        return render_pairs(rows, self.renderer, self.hard_negatives, index=k)


def render_pairs(rows: list[dict], renderer: Renderer, hard_negatives: int = 0, index: int = -1,
                 padding_side: str = "right") -> dict:
    qs, ts, negs, neg_of = [], [], [], []
    for j, row in enumerate(rows):
        q, t, ns = sides_of_row(row, hard_negatives)
        qs.append(q)
        ts.append(t)
        negs += ns
        neg_of += [j] * len(ns)
    sides = qs + ts + negs
    rendered = [renderer.render(s) for s in sides]
    batch = collate(rendered, renderer.pad_id, padding_side)
    batch.update(
        n_pairs=len(rows),
        truncated=sum(1 for r in rendered if any(r["cut"].values())),  # sequences cut to fit max_length
        qry_keys=torch.tensor([side_key(s.side_id) for s in qs]),
        pos_keys=torch.tensor([side_key(s.side_id) for s in ts]),
        neg_keys=torch.tensor([side_key(s.side_id) for s in negs], dtype=torch.long),
        neg_of=torch.tensor(neg_of, dtype=torch.long),
        index=index,
        datasets=[r["dataset_name"] for r in rows],
    )
    return batch


def loader(batches: PairBatches, start: int, stop: int, num_workers: int = 0) -> torch.utils.data.DataLoader:
    """Micro-batches start..stop-1 in order; workers render ahead, order is fixed by the index."""
    return torch.utils.data.DataLoader(
        batches, batch_size=None, sampler=range(start, stop), num_workers=num_workers,
        prefetch_factor=4 if num_workers else None, persistent_workers=False,
    )


# ----------------------------------------------------------------------------------------------- RL prompt plan
class PromptBatches:
    """RL: generation batch k (any epoch) -> this rank's pairs of it, as row dicts.

    An RL version has the rows of an SFT version (the same columns; manifest kind "rl"); GRPO renders only their
    prompts. A generation batch is `batch` pairs across all ranks (the reference's 256), planned by plan_epoch
    from (seed, epoch) alone, so a resumed run gets batch k exactly; rank r holds pairs r*b/w .. (r+1)*b/w - 1.
    """

    def __init__(self, table, batch: int, world: int = 1, rank: int = 0, seed: int = 0, batching: str = "mixed"):
        if batch % world:
            raise ValueError(f"a generation batch of {batch} pairs does not split over {world} ranks")
        self.table, self.batch, self.world, self.rank, self.seed, self.batching = table, batch, world, rank, seed, \
            batching
        self.per_rank = batch // world
        self.plans = EpochPlans(table, batch, seed, batching, f"generation batch of {batch} pairs")
        self.datasets, self.unused = self.plans.datasets, self.plans.unused
        self.per_epoch = self.plans.per_epoch

    def indices(self, k: int) -> list[int]:
        """Table rows of this rank's share of generation batch k."""
        epoch, step = divmod(k, self.per_epoch)
        start = self.rank * self.per_rank
        return self.plans.epoch(epoch)[step][start : start + self.per_rank]

    def rows(self, k: int) -> list[dict]:
        return self.table.take(self.indices(k)).to_pylist()


# ------------------------------------------------------------------------------------------------------ eval sets
@dataclass
class EvalSets:
    """Eval sets as the trainer scores them: queries, each ranked against its own candidate list, graded qrels.

    Read from an eval-set directory (docs/interfaces.md: manifest.json + data/{sides,queries,lists,qrels}.parquet,
    written by umedata.evals.export), or made from a dataset version's split by `eval_sets_of_version`."""

    eval_id: str  # the directory's content id, or "<version_id>:<split>"
    kind: str  # "eval_sets" | "version_split"
    sets: list[dict]  # name, category, metric (and, from a directory, layout, content_id, counts)
    sides: dict[str, Side]
    queries: dict[str, list[tuple[str, str, str]]]  # set -> [(query_id, side_id, list_id)]
    lists: dict[tuple[str, str], list[str]]  # (set, list_id) -> candidate side ids
    qrels: dict[tuple[str, str], dict[str, int]]  # (set, query_id) -> {side_id: grade > 0}
    media_root: str | None = None


def open_eval_sets(path: str | Path) -> EvalSets:
    root = str(path).rstrip("/")
    with fsspec.open(join(root, "manifest.json")) as f:
        manifest = json.load(f)
    if manifest.get("kind") != "eval_sets":
        raise ValueError(f"{root} is not an eval-set directory (manifest kind {manifest.get('kind')!r})")
    check_format_version(manifest.get("format_version", "<missing>"))

    def table(name: str) -> pa.Table:
        with fsspec.open(join(root, manifest["files"][name]), "rb") as f:
            return pq.read_table(f)

    sides = {r["side_id"]: Side(r["side_id"], r["text"] or "", r["images"] or [], r["video"] or [])
             for r in table("sides").to_pylist()}
    queries: dict[str, list[tuple[str, str, str]]] = {}
    for r in table("queries").to_pylist():
        queries.setdefault(r["eval_set"], []).append((r["query_id"], r["side_id"], r["list_id"]))
    lists: dict[tuple[str, str], list[str]] = {}
    for r in table("lists").to_pylist():  # rows come ordered by (set, list, position)
        lists.setdefault((r["eval_set"], r["list_id"]), []).append(r["side_id"])
    qrels: dict[tuple[str, str], dict[str, int]] = {}
    for r in table("qrels").to_pylist():
        qrels.setdefault((r["eval_set"], r["query_id"]), {})[r["side_id"]] = int(r["grade"])
    media_root = manifest.get("media_root")
    return EvalSets(manifest["eval_dir_id"], "eval_sets", manifest["sets"], sides, queries, lists, qrels,
                    None if media_root is None else join(root, media_root))


def eval_sets_of_version(version: Version, split: str = "eval") -> EvalSets:
    """A version's split as eval sets, one per dataset: every query ranked against all distinct targets of its
    dataset (one shared list, grade 1 for its own target), NDCG@5 for visual documents, Hit@1 otherwise. The
    annotations stay on the sides, so teacher-forced scoring can read them."""
    rows = version.read_split(split).to_pylist()
    sets, sides, queries, lists, qrels = {}, {}, {}, {}, {}
    for row in rows:
        name = row["dataset_name"]
        q, t, _ = sides_of_row(row)
        sides.setdefault(q.side_id, q)
        sides.setdefault(t.side_id, t)
        category = {"visdoc": "visdoc", "video": "video"}.get(row["modality"], "image")
        sets.setdefault(name, {"name": name, "category": category,
                               "metric": "ndcg@5" if row["modality"] == "visdoc" else "hit@1"})
        lists.setdefault((name, "all"), {})[t.side_id] = None
        qid = row["pair_id"]
        queries.setdefault(name, []).append((qid, q.side_id, "all"))
        qrels[(name, qid)] = {t.side_id: 1}
    lists = {k: sorted(v) for k, v in lists.items()}
    return EvalSets(f"{version.version_id}:{split}", "version_split", [sets[k] for k in sorted(sets)], sides,
                    queries, lists, qrels, version.media_root())
