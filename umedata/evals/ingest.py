"""Reading an eval set into the warehouse: its layout's records -> media, sides, queries, candidate lists, qrels.

    summary = ingest_eval_set(Warehouse(), spec)

Media are resolved and hashed as ingest does (umedata.media), and sides are ordinary `sides` rows (text + ordered
media hashes, the same side_id a train pair would give them), so decontamination compares eval and train by
content. Eval sides are never a pair's, so the teacher never annotates them.

A query whose side, or any of its own candidates, cannot be taken in (missing media, a bad row) is quarantined
whole (stage "eval_ingest", source = the eval set): scoring it against a shortened list would change what it
measures. A BEIR corpus document that cannot be taken in is quarantined by itself and left out of the corpus;
a query left with no relevant document is quarantined too (no_relevant).
Candidates are distinct by side within a list (the same text named twice is one item, and its grade the highest
given), and a list is stored once per distinct set of sides (list_id hashes them), so queries that share their
candidates share one list.

Re-ingesting the same content changes nothing; changed content replaces the set: the old rows are removed in one
transaction (together with its eval_sets row, so a crash before the new commit leaves no half set), then the new
set lands in one commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from umedata import ids, sql, tables
from umedata.clock import utcnow
from umedata.errors import MediaError
from umedata.media import MediaInfo, MediaResolver
from umedata.sources.eval_config import EvalSetSpec
from umedata.sources.eval_layout import RawEvalSet, RawSide, read_eval_set
from umedata.warehouse import Warehouse

STAGE = "eval_ingest"


@dataclass
class EvalIngestSummary:
    name: str
    content_id: str = ""
    changed: bool = False  # False: the warehouse held this content already
    queries: int = 0
    lists: int = 0
    candidates: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Side:
    side_id: str
    text: str
    media: list[str]
    modality: str


class _Resolver:
    """RawSide -> warehouse side (once per distinct side), collecting the media and frames it needs."""

    def __init__(self, spec: EvalSetSpec, store_dir):
        self.media = MediaResolver(spec.root, store_dir)
        self.document = spec.category == "visdoc"
        self.sides: dict[RawSide, _Side | MediaError] = {}
        self.infos: dict[str, MediaInfo] = {}
        self.frames: dict[str, list[str]] = {}  # video sha -> frame shas
        self.frame_only: set[str] = set()

    def side(self, raw: RawSide) -> _Side:
        got = self.sides.get(raw)
        if got is None:
            try:
                got = self._resolve(raw)
            except MediaError as exc:
                got = exc
            self.sides[raw] = got
        if isinstance(got, MediaError):
            raise got
        return got

    def _resolve(self, raw: RawSide) -> _Side:
        images = [self.media.resolve(r) for r in raw.images]
        media, modality = [i.sha256 for i in images], "text"
        if raw.frames:
            frames = [self.media.resolve(r) for r in raw.frames]
            video = self.media.video(frames)
            self.frames[video.sha256] = [f.sha256 for f in frames]
            for f in frames:
                self.infos.setdefault(f.sha256, f)
                self.frame_only.add(f.sha256)
            self.infos.setdefault(video.sha256, video)
            media, modality = [video.sha256], "video"
        elif images:
            modality = "visdoc" if self.document or any(i.kind == "page" for i in images) else "image"
        for i in images:
            self.infos.setdefault(i.sha256, i)
        return _Side(ids.side_id(raw.text, media), raw.text, media, modality)

    def tables(self) -> dict[str, pa.Table]:
        on_sides = {sha for s in self.sides.values() if isinstance(s, _Side) for sha in s.media}
        media = [info.as_row("frame" if sha in self.frame_only - on_sides and info.kind == "image" else None)
                 for sha, info in self.infos.items()]
        frames = [{"video_sha256": v, "frame_index": k, "frame_sha256": f}
                  for v, fs in self.frames.items() for k, f in enumerate(fs)]
        sides = [{"side_id": s.side_id, "text": s.text, "media": s.media, "modality": s.modality}
                 for s in {s.side_id: s for s in self.sides.values() if isinstance(s, _Side)}.values()]
        return {"media": tables.rows("media", media), "video_frames": tables.rows("video_frames", frames),
                "sides": tables.rows("sides", sides)}


def list_id(side_ids: list[str]) -> str:
    """A candidate list is its set of sides: the same candidates in any order are one list."""
    return ids.digest("eval_list", *sorted(set(side_ids)))


def ingest_eval_set(warehouse: Warehouse, spec: EvalSetSpec) -> EvalIngestSummary:
    """Read one eval set into the warehouse (see the module docstring); returns what it holds and refused."""
    warehouse.recover()
    raw = read_eval_set(spec)
    resolver = _Resolver(spec, warehouse.path.parent / "media")
    summary = EvalIngestSummary(spec.name, skipped=dict(raw.skipped))
    problems = list(raw.problems)
    corpus = _corpus(raw, resolver, problems)
    queries, lists, qrels = [], {}, []
    for q in raw.queries:
        try:
            side = resolver.side(q.side)
            if q.candidates is None:
                cands, keys = corpus, list(corpus)
            else:
                cands, keys = {}, []
                for k, c in enumerate(q.candidates):
                    try:
                        cands[k] = resolver.side(c)
                    except MediaError as exc:
                        raise MediaError(exc.reason, f"candidate {k}: {exc.detail}") from None
                    keys.append(k)
        except MediaError as exc:
            problems.append((q.where, exc.reason, exc.detail))
            continue
        grades: dict[str, int] = {}
        for key, grade in q.relevant.items():
            if key in cands:
                sid = cands[key].side_id
                grades[sid] = max(grade, grades.get(sid, 0))
        if not grades:
            problems.append((q.where, "no_relevant", "none of its relevant items is among its candidates"))
            continue
        members = [cands[k].side_id for k in keys]
        lid = list_id(members)
        lists.setdefault(lid, sorted(set(members)))
        queries.append({"eval_set": spec.name, "query_id": q.query_id, "side_id": side.side_id, "list_id": lid})
        qrels += [{"eval_set": spec.name, "query_id": q.query_id, "side_id": s, "grade": g}
                  for s, g in sorted(grades.items())]
    candidates = [{"eval_set": spec.name, "list_id": lid, "position": i, "side_id": s}
                  for lid, members in sorted(lists.items()) for i, s in enumerate(members)]
    summary.queries, summary.lists = len(queries), len(lists)
    summary.candidates = len({s for members in lists.values() for s in members})
    summary.content_id = ids.digest(
        "eval_set", spec.name, spec.category, spec.metric,
        *[f"{r['query_id']}:{r['side_id']}:{r['list_id']}" for r in sorted(queries, key=lambda r: r["query_id"])],
        *[f"{r['list_id']}:{r['position']}:{r['side_id']}" for r in candidates],
        *[f"{r['query_id']}:{r['side_id']}:{r['grade']}" for r in qrels])
    now = utcnow()
    quarantine = [{"quarantine_id": ids.quarantine_id(spec.name, what, reason), "source": spec.name, "stage": STAGE,
                   "what": what, "reason": reason, "detail": detail, "created_at": now}
                  for what, reason, detail in problems]
    summary.quarantined = len(quarantine)
    for _, reason, _ in problems:
        summary.reasons[reason] = summary.reasons.get(reason, 0) + 1
    known = warehouse.query("eval_set_content", {"name": spec.name}).to_pylist()
    if known and known[0]["content_id"] == summary.content_id:
        if quarantine:  # the same refusals again: recorded once (keyed), so nothing grows
            warehouse.commit_tables({"quarantine": tables.rows("quarantine", quarantine)})
        return summary
    if known:
        with warehouse.transaction() as con:
            sql.execute(con, "eval_set_clear", {"name": spec.name})
    row = {"name": spec.name, "layout": spec.layout, "category": spec.category, "metric": spec.metric,
           "path": str(spec.path), "root": str(spec.root), "licence": spec.licence, "provenance": spec.provenance,
           "content_id": summary.content_id, "n_queries": summary.queries, "n_lists": summary.lists,
           "n_candidates": summary.candidates,
           "options": json.dumps({**spec.options(), "skipped": summary.skipped}, sort_keys=True),
           "registered_at": now}
    warehouse.commit_tables(
        {**resolver.tables(), "eval_sets": tables.rows("eval_sets", [row]),
         "eval_queries": tables.rows("eval_queries", queries), "eval_candidates": tables.rows("eval_candidates", candidates),
         "eval_qrels": tables.rows("eval_qrels", qrels), "quarantine": tables.rows("quarantine", quarantine)},
        modes={"eval_sets": "replace"})
    summary.changed = True
    return summary


def _corpus(raw: RawEvalSet, resolver: _Resolver, problems: list) -> dict[str, _Side]:
    """The corpus documents that could be taken in (BEIR); those that could not are problems of their own."""
    if raw.corpus is None:
        return {}
    out = {}
    for doc_id, side in raw.corpus.items():
        try:
            out[doc_id] = resolver.side(side)
        except MediaError as exc:
            problems.append((raw.corpus_where[doc_id], exc.reason, exc.detail))
    return out
