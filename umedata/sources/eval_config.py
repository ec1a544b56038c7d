"""Eval-set configuration: a TOML file of `[[eval_set]]` tables (format in docs/interfaces.md).

    [[eval_set]]
    name = "MSCOCO_i2t"              # eval_sets.name: the dataset as reported
    layout = "mmeb_eval"             # mmeb_eval | video_eval | beir
    path = "MMEB-eval/MSCOCO_i2t.jsonl"   # a file (mmeb_eval, video_eval) or a BEIR folder, relative to root
    category = "image"               # image | video | visdoc (default: mmeb_eval image, video_eval video, beir visdoc)
    metric = "hit@1"                 # hit@1 | ndcg@5 (default: ndcg@5 for visdoc, else hit@1)
    root = "."                       # media resolve under it; relative to this file
    licence = "..."
    provenance = "..."
    qrels = "test"                   # beir: qrels/<qrels>.tsv
    doc_prompt = "..."               # beir: the text of a corpus page that has none (the page prompt it was trained with)
    query_prompt = ""                # beir: put before every query text (an instruction), default none

Relative roots resolve against the file's folder, so a config travels with its data; unknown keys are errors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from umedata.errors import UserError
from umedata.toml_config import read_toml, refuse_unknown

EVAL_LAYOUTS = ("mmeb_eval", "video_eval", "beir")
CATEGORIES = ("image", "video", "visdoc")
METRICS = ("hit@1", "ndcg@5")
DEFAULT_CATEGORY = {"mmeb_eval": "image", "video_eval": "video", "beir": "visdoc"}
DEFAULT_DOC_PROMPT = "Understand the content of the provided document page."
_KEYS = {"name", "layout", "path", "category", "metric", "root", "licence", "license", "provenance", "qrels",
         "doc_prompt", "query_prompt"}


class EvalConfigError(UserError, ValueError):
    """The eval-set config is not valid; the message names the file and the entry."""


@dataclass(frozen=True)
class EvalSetSpec:
    name: str
    layout: str
    path: Path  # absolute
    root: Path  # absolute
    category: str = ""
    metric: str = ""
    licence: str | None = None
    provenance: str | None = None
    qrels: str = "test"
    doc_prompt: str = DEFAULT_DOC_PROMPT
    query_prompt: str = ""

    def __post_init__(self) -> None:
        at = f"eval set {self.name!r}: "
        if not self.name or not isinstance(self.name, str):
            raise EvalConfigError("an eval set needs a name")
        if self.layout not in EVAL_LAYOUTS:
            raise EvalConfigError(f"{at}layout {self.layout!r} is not one of {', '.join(EVAL_LAYOUTS)}")
        object.__setattr__(self, "root", Path(self.root).absolute())
        path = Path(self.path)
        object.__setattr__(self, "path", path if path.is_absolute() else self.root / path)
        category = self.category or DEFAULT_CATEGORY[self.layout]
        if category not in CATEGORIES:
            raise EvalConfigError(f"{at}category {category!r} is not one of {', '.join(CATEGORIES)}")
        object.__setattr__(self, "category", category)
        metric = self.metric or ("ndcg@5" if category == "visdoc" else "hit@1")
        if metric not in METRICS:
            raise EvalConfigError(f"{at}metric {metric!r} is not one of {', '.join(METRICS)}")
        object.__setattr__(self, "metric", metric)

    def options(self) -> dict[str, Any]:
        """What eval_sets.options keeps of the config (the rest has columns of its own)."""
        out = {"qrels": self.qrels, "doc_prompt": self.doc_prompt, "query_prompt": self.query_prompt}
        return out if self.layout == "beir" else {}

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"], d["root"] = str(self.path), str(self.root)
        return d


def load_eval_sets(path: str | Path) -> list[EvalSetSpec]:
    """Every `[[eval_set]]` of a TOML file, validated; relative roots resolve against the file's folder."""
    path = Path(path)
    doc = read_toml(path, EvalConfigError, "eval-set config")
    refuse_unknown(doc, {"eval_set"}, EvalConfigError, f"{path}: unknown top-level key(s), expected [[eval_set]] tables")
    specs, names = [], set()
    for i, entry in enumerate(doc.get("eval_set", [])):
        where = f"{path}: [[eval_set]] #{i + 1}: "
        refuse_unknown(entry, _KEYS, EvalConfigError, f"{where}unknown key(s)")
        for key in ("name", "layout", "path"):
            if not entry.get(key):
                raise EvalConfigError(f"{where}needs {key!r}")
        root = Path(entry.get("root", "."))
        root = root if root.is_absolute() else path.parent / root
        try:
            spec = EvalSetSpec(
                name=entry["name"], layout=entry["layout"], path=Path(entry["path"]), root=root,
                category=entry.get("category", ""), metric=entry.get("metric", ""),
                licence=entry.get("licence", entry.get("license")), provenance=entry.get("provenance"),
                qrels=entry.get("qrels", "test"), doc_prompt=entry.get("doc_prompt", DEFAULT_DOC_PROMPT),
                query_prompt=entry.get("query_prompt", ""),
            )
        except EvalConfigError as exc:
            raise EvalConfigError(f"{where}{exc}") from None
        if spec.name in names:
            raise EvalConfigError(f"{where}eval set {spec.name!r} is named twice")
        names.add(spec.name)
        specs.append(spec)
    if not specs:
        raise EvalConfigError(f"{path}: no [[eval_set]] entries")
    return specs
