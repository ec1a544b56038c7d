"""Visual-document eval sets in the BEIR layout (ViDoRe and MMEB-V2's visdoc sets): a corpus, queries and graded
qrels, every query ranked against the whole corpus.

    <folder>/corpus.jsonl     {"_id", "title", "text", "image"}: a page image (or `doc.pdf#page=N`), or text
    <folder>/queries.jsonl    {"_id", "text"}
    <folder>/qrels/<split>.tsv  query-id <TAB> corpus-id <TAB> score   (a header line is allowed)

(.parquet instead of .jsonl works too.) A corpus entry with an image is a page: its side text is the set's
`doc_prompt` (the page prompt the model was trained with), never the title; an entry without one is a text
document, "title text". A query's text is `query_prompt` + its text. Scores above 0 are relevant, with that grade;
0 or less means judged not relevant (left out, as trec_eval does). Queries without a relevant judgement are not
scored (counted in `skipped`), as BEIR does; a qrel naming an unknown query or document is a problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from umedata.errors import FileError
from umedata.media import is_blank
from umedata.sources.eval_config import EvalSetSpec
from umedata.sources.eval_layout import RawEvalSet, RawQuery, RawSide, clean_text
from umedata.sources.readers import read_blocks


def _table_file(folder: Path, stem: str) -> Path:
    for suffix in (".jsonl", ".parquet", ".json"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    raise FileError("missing_file", f"{folder}: no {stem}.jsonl (or .parquet)")


def _records(path: Path, out: RawEvalSet) -> list[tuple[str, dict[str, Any]]]:
    rows = []
    for block in read_blocks(path, 10_000, columnar=False):
        for row, obj in zip(block.rows.to_pylist(), block.records or []):
            where = f"{path.name}:{row}"
            if isinstance(obj, Exception):
                out.problems.append((where, getattr(obj, "reason", "bad_row"), getattr(obj, "detail", str(obj))))
            elif not isinstance(obj, dict) or obj.get("_id") in (None, ""):
                out.problems.append((where, "wrong_type", "a row is an object with an _id"))
            else:
                rows.append((where, obj))
    return rows


def read_qrels(path: Path) -> list[tuple[int, str, str, int | None]]:
    """(line number, query id, corpus id, grade or None when the score is not an integer)."""
    if not path.is_file():
        raise FileError("missing_file", f"{path}: no such qrels file")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        parts = line.strip().split("\t") if "\t" in line else line.split()
        if not parts or parts == [""]:
            continue
        if len(parts) == 4:  # TREC style: query 0 doc score
            parts = [parts[0], parts[2], parts[3]]
        if len(parts) != 3:
            out.append((n, "", "", None))
            continue
        try:
            grade = int(float(parts[2]))
        except ValueError:
            if n == 0:  # the header
                continue
            grade = None
        out.append((n, parts[0], parts[1], grade))
    return out


def read_beir(spec: EvalSetSpec) -> RawEvalSet:
    folder = spec.path
    if not folder.is_dir():
        raise FileError("missing_file", f"{folder}: a BEIR eval set is a folder (corpus, queries, qrels/)")
    out = RawEvalSet(corpus={})
    for where, obj in _records(_table_file(folder, "corpus"), out):
        doc_id, image = str(obj["_id"]), obj.get("image") or ""
        try:
            if not isinstance(image, str):
                raise TypeError(f"image is {type(image).__name__}, not a path")
            if image and not is_blank(image):
                side = RawSide(clean_text(spec.doc_prompt), (image,))
            else:
                side = RawSide(" ".join(t for t in (clean_text(obj.get("title")), clean_text(obj.get("text"))) if t))
        except TypeError as exc:
            out.problems.append((where, "wrong_type", str(exc)))
            continue
        if not side.text and not side.images:
            out.problems.append((where, "empty_side", f"document {doc_id} has neither text nor an image"))
            continue
        out.corpus[doc_id] = side
        out.corpus_where[doc_id] = where
    queries: dict[str, tuple[str, RawSide]] = {}
    for where, obj in _records(_table_file(folder, "queries"), out):
        try:
            text = clean_text(obj.get("text"))
        except TypeError as exc:
            out.problems.append((where, "wrong_type", str(exc)))
            continue
        if not text:
            out.problems.append((where, "empty_side", f"query {obj['_id']} has no text"))
            continue
        queries[str(obj["_id"])] = (where, RawSide(f"{spec.query_prompt}{text}"))
    relevant: dict[str, dict[str, int]] = {}
    qrels = folder / "qrels" / f"{spec.qrels}.tsv"
    for n, qid, doc, grade in read_qrels(qrels):
        where = f"qrels/{qrels.name}:{n}"
        if grade is None:
            out.problems.append((where, "wrong_type", "a qrels line is query-id, corpus-id, integer score"))
        elif qid not in queries:
            out.problems.append((where, "unknown_id", f"no query {qid!r}"))
        elif doc not in out.corpus:
            out.problems.append((where, "unknown_id", f"no document {doc!r} in the corpus"))
        elif grade > 0:
            relevant.setdefault(qid, {})[doc] = grade
    for qid, (where, side) in queries.items():
        if qid not in relevant:
            out.skip("queries_without_relevant_qrels")
            continue
        out.queries.append(RawQuery(qid, where, side, None, relevant[qid]))
    return out
