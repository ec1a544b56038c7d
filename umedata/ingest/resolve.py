"""Step 3, resolve media: every media reference of a chunk becomes a content hash, and bad ones refuse their row.

Each distinct reference is resolved once (in threads when there are many: hashing releases the GIL). Blank
placeholders (UME-R1's blank.jpg) are dropped; a reference that cannot be taken in (missing, corrupt, outside the
root) marks its row with the first problem found, in the order qry image, pos image, qry video, pos video,
negative image. A side's frames make one video. `check_sides` then refuses sides that carry both images and a
video, or nothing at all.

The path columns of the chunk are replaced by hash columns of the same name; `{side}_video` becomes the video's
hash (null when none) and `{side}_frames` its frame hashes; `{side}_pages` / `neg_pages` say whether a rendered
document page is among the images.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from umedata.errors import MediaError
from umedata.media import MediaInfo, MediaResolver, is_blank
from umedata.sources.arrays import PATHS, as_numpy, lists_from, with_column

SIDES = ("qry", "pos")
_THREADS = min(8, 2 * (os.cpu_count() or 1))


@dataclass
class FoundMedia:
    """The media of one chunk by sha256: every image, page and video resolved, and each video's frames."""

    infos: dict[str, MediaInfo] = field(default_factory=dict)
    frames: dict[str, list[str]] = field(default_factory=dict)  # video sha256 -> frame hashes in order


def resolve_media(rows: pa.Table, resolver: MediaResolver) -> tuple[pa.Table, FoundMedia]:
    """References -> hashes for rows the reader accepted; returns the rows and the media they name."""
    neg_owner = as_numpy(pc.list_parent_indices(rows["neg_images"])).astype(np.int64)
    neg_refs = rows["neg_images"].combine_chunks().flatten()  # one list of references per negative
    refs = _Refs.resolve(
        [rows[c].combine_chunks() for c in ("qry_images", "pos_images", "qry_video", "pos_video")] + [neg_refs],
        resolver,
    )
    found = FoundMedia(infos=refs.by_sha())
    every_row = np.arange(rows.num_rows, dtype=np.int64)
    images = {s: refs.hashes(rows[f"{s}_images"].combine_chunks()) for s in SIDES}
    frames = {s: refs.hashes(rows[f"{s}_video"].combine_chunks()) for s in SIDES}
    negs = refs.hashes(neg_refs)
    for name, mapped, owner in [
        ("qry_image", images["qry"], every_row),
        ("pos_image", images["pos"], every_row),
        ("qry_video", frames["qry"], every_row),
        ("pos_video", frames["pos"], every_row),
        ("neg_image", negs, neg_owner),
    ]:
        lists, problems = mapped.problems
        rows = flag(rows, owner[lists], [p[0] for p in problems], [f"{name}: {p[1]}" for p in problems])
    ok = as_numpy(pc.is_null(rows["error"]))
    for s in SIDES:
        rows = with_column(rows, f"{s}_images", images[s].hashes)
        rows = with_column(rows, f"{s}_video", _videos(frames[s].hashes, ok, resolver, found))
        rows = with_column(rows, f"{s}_pages", pa.array(images[s].pages))
        rows = with_column(rows, f"{s}_frames", frames[s].hashes)
    rows = with_column(rows, "neg_images", lists_from(neg_owner, negs.hashes, rows.num_rows))
    rows = with_column(rows, "neg_pages", lists_from(neg_owner, pa.array(negs.pages), rows.num_rows))
    return rows, found


def check_sides(rows: pa.Table) -> pa.Table:
    """A side carries images or one video, and is never empty: other rows are marked refused."""
    for s in SIDES:
        has_images = as_numpy(pc.list_value_length(rows[f"{s}_images"])) > 0
        has_frames = as_numpy(pc.list_value_length(rows[f"{s}_frames"])) > 0
        empty_text = as_numpy(pc.utf8_length(rows[f"{s}_text"])) == 0
        both = np.flatnonzero(has_images & has_frames)
        rows = flag(rows, both, ["wrong_type"] * len(both), [f"{s} has both images and a video"] * len(both))
        empty = np.flatnonzero(~has_images & ~has_frames & empty_text)
        rows = flag(rows, empty, ["empty_side"] * len(empty), [f"{s} has neither text nor media"] * len(empty))
    return rows


def split_refused(rows: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(rows without a problem, rows with one)."""
    bad = pc.is_valid(rows["error"])
    if not pc.any(bad).as_py():
        return rows, rows.slice(0, 0)
    return rows.filter(pc.invert(bad)), rows.filter(bad)


def flag(rows: pa.Table, where: np.ndarray, reasons: list[str], details: list[str]) -> pa.Table:
    """Mark rows (by position) refused; a row already marked, or named twice, keeps its first reason."""
    if len(where) == 0:
        return rows
    where, first = np.unique(where, return_index=True)
    error, detail = np.full(rows.num_rows, None, dtype=object), np.full(rows.num_rows, None, dtype=object)
    error[where] = np.array(reasons, dtype=object)[first]
    detail[where] = np.array(details, dtype=object)[first]
    unmarked = pc.is_null(rows["error"])
    rows = with_column(rows, "error_detail", pc.if_else(unmarked, pa.array(detail, pa.string()), rows["error_detail"]))
    return with_column(rows, "error", pc.if_else(unmarked, pa.array(error, pa.string()), rows["error"]))


# -- the distinct references of a chunk ----------------------------------------------------------------------------
@dataclass
class _Mapped:
    """One list column of references as media hashes."""

    hashes: pa.ListArray  # blanks and refused references dropped
    pages: np.ndarray  # per list: holds a rendered document page
    problems: tuple[np.ndarray, list[tuple[str, str]]]  # lists with a refused reference, and its (reason, detail)


@dataclass
class _Refs:
    refs: pa.Array
    sha: pa.Array  # null where blank or refused
    blank: np.ndarray
    error: np.ndarray
    page: np.ndarray
    infos: list[MediaInfo | None]
    problems: list[tuple[str, str] | None]

    @classmethod
    def resolve(cls, columns: list[pa.Array], resolver: MediaResolver) -> _Refs:
        refs = pc.unique(pa.concat_arrays([c.flatten() for c in columns]))
        values = refs.to_pylist()

        def one(ref: str) -> tuple[MediaInfo | None, tuple[str, str] | None, bool]:
            if is_blank(ref):
                return None, None, True
            try:
                return resolver.resolve(ref), None, False
            except MediaError as exc:
                return None, (exc.reason, exc.detail if ref in exc.detail else f"{ref}: {exc.detail}"), False

        if len(values) > 32 and _THREADS > 1:
            with ThreadPoolExecutor(_THREADS) as pool:
                results = list(pool.map(one, values))
        else:
            results = [one(v) for v in values]
        infos = [r[0] for r in results]
        return cls(
            refs=refs,
            sha=pa.array([i.sha256 if i else None for i in infos], pa.string()),
            blank=np.array([r[2] for r in results], dtype=bool),
            error=np.array([r[1] is not None for r in results], dtype=bool),
            page=np.array([i is not None and i.kind == "page" for i in infos], dtype=bool),
            infos=infos,
            problems=[r[1] for r in results],
        )

    def by_sha(self) -> dict[str, MediaInfo]:
        out: dict[str, MediaInfo] = {}
        for info in self.infos:
            if info is not None:
                out.setdefault(info.sha256, info)  # the same bytes under two paths: the first one named
        return out

    def hashes(self, lists: pa.ListArray) -> _Mapped:
        m = len(lists)
        flat = lists.flatten()
        parents = as_numpy(pc.list_parent_indices(lists)).astype(np.int64)
        idx = as_numpy(pc.index_in(flat, value_set=self.refs)).astype(np.int64) if len(flat) else parents[:0]
        bad = self.error[idx]
        keep = ~(self.blank[idx] | bad)
        kept = idx[keep]
        pages = np.bincount(parents[keep][self.page[kept]], minlength=m) > 0
        bad_at = np.flatnonzero(bad)
        bad_lists, first = np.unique(parents[bad_at], return_index=True)  # the first refused reference of a list
        problems = [self.problems[i] for i in idx[bad_at[first]].tolist()]
        hashes = lists_from(parents[keep], self.sha.take(pa.array(kept)), m).cast(PATHS)
        return _Mapped(hashes, pages, (bad_lists, problems))


def _videos(frames: pa.ListArray, ok: np.ndarray, resolver: MediaResolver, found: FoundMedia) -> pa.Array:
    """The video hash of each side with frames (null otherwise); the videos join the chunk's media."""
    has = (as_numpy(pc.list_value_length(frames)) > 0) & ok
    shas: list[str | None] = [None] * len(frames)
    for i, fs in zip(np.flatnonzero(has).tolist(), frames.filter(pa.array(has)).to_pylist()):
        video = resolver.video([found.infos[f] for f in fs])
        found.infos.setdefault(video.sha256, video)
        found.frames.setdefault(video.sha256, fs)
        shas[i] = video.sha256
    return pa.array(shas, pa.string())
