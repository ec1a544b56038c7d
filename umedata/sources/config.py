"""Source configuration: a TOML file of `[[source]]` tables (format in docs/interfaces.md).

Relative roots resolve against the config file's folder, so a config travels with its data. Unknown keys are
errors rather than silently ignored: a misspelt `allow_external_teacher` must not default to something else.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from umedata.errors import UserError
from umedata.format import MODALITIES

LAYOUTS = ("mmeb", "ume_r1_sft", "ume_r1_rl", "generic")
# Our field names a generic column mapping may name (their column = value).
FIELDS = (
    "qry",
    "qry_image",
    "qry_video",
    "pos",
    "pos_image",
    "pos_video",
    "neg",
    "neg_image",
    "dataset",
    "split",
    "task",
)

_SOURCE_KEYS = {"name", "layout", "root", "licence", "license", "provenance", "allow_external_teacher", "datasets"}
_DATASET_KEYS = {"name", "path", "modality", "task", "split", "columns"}


class SourceConfigError(UserError, ValueError):
    """The config file is not valid; the message names the file and the entry."""


@dataclass(frozen=True)
class DatasetSpec:
    """One data file (or glob, or HF dataset folder) of a source."""

    name: str | None  # pairs.dataset_name; ume_r1 layouts may take it per row instead
    path: str  # relative to the source root (absolute allowed); may be a glob
    modality: str | None = None  # text | image | video | visdoc; None = inferred from the media
    task: str | None = None  # retrieval | classification | vqa | grounding | ...; None = known default or "unknown"
    split: str = "train"
    columns: dict[str, str] = field(default_factory=dict)  # generic layout: our field -> their column


@dataclass(frozen=True)
class SourceSpec:
    """A source as the `sources` table records it, plus the datasets to read from it."""

    name: str
    layout: str
    root: Path  # absolute; media never resolve outside it
    licence: str | None = None
    provenance: str | None = None
    allow_external_teacher: bool = False
    datasets: list[DatasetSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).absolute())
        validate(self)

    def options(self) -> dict[str, Any]:
        """What the `sources.options` JSON column keeps: the datasets as configured."""
        return {"datasets": [asdict(d) for d in self.datasets]}


def validate(spec: SourceSpec, where: str = "") -> None:
    at = f"{where}source {spec.name!r}: "
    if not spec.name or not isinstance(spec.name, str):
        raise SourceConfigError(f"{where}a source needs a name")
    if spec.layout not in LAYOUTS:
        raise SourceConfigError(f"{at}layout {spec.layout!r} is not one of {', '.join(LAYOUTS)}")
    if not spec.datasets:
        raise SourceConfigError(f"{at}no datasets")
    for d in spec.datasets:
        if not d.path:
            raise SourceConfigError(f"{at}a dataset needs a path")
        if d.name is None and spec.layout not in ("ume_r1_sft", "ume_r1_rl"):
            raise SourceConfigError(f"{at}dataset {d.path!r} needs a name")
        if d.modality is not None and d.modality not in MODALITIES:
            raise SourceConfigError(f"{at}modality {d.modality!r} is not one of {', '.join(MODALITIES)}")
        bad = sorted(set(d.columns) - set(FIELDS))
        if bad:
            raise SourceConfigError(f"{at}unknown column field(s) {bad}; known: {', '.join(FIELDS)}")
        if d.columns and spec.layout != "generic":
            raise SourceConfigError(f"{at}`columns` applies to the generic layout only")
        if spec.layout == "generic" and not ({"qry", "qry_image", "qry_video"} & set(d.columns)):
            raise SourceConfigError(
                f"{at}generic dataset {d.path!r} maps no query column (qry / qry_image / qry_video)"
            )


def _check_keys(table: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise SourceConfigError(f"{what}: unknown key(s) {unknown}; allowed: {', '.join(sorted(allowed))}")


def _dataset(table: dict[str, Any], where: str) -> DatasetSpec:
    _check_keys(table, _DATASET_KEYS, where)
    columns = table.get("columns", {})
    if not isinstance(columns, dict) or not all(isinstance(v, str) for v in columns.values()):
        raise SourceConfigError(f"{where}: columns must map our field names to column names (strings)")
    return DatasetSpec(
        name=table.get("name"),
        path=str(table.get("path", "")),
        modality=table.get("modality"),
        task=table.get("task"),
        split=str(table.get("split", "train")),
        columns=dict(columns),
    )


def parse_sources(doc: dict[str, Any], base_dir: Path, where: str = "") -> list[SourceSpec]:
    """SourceSpecs from an already-parsed TOML document; relative roots resolve against `base_dir`."""
    tables = doc.get("source", [])
    if not isinstance(tables, list) or not tables:
        raise SourceConfigError(f"{where}no [[source]] tables")
    specs: list[SourceSpec] = []
    for i, t in enumerate(tables):
        what = f"{where}[[source]] #{i + 1} ({t.get('name', '?')})"
        _check_keys(t, _SOURCE_KEYS, what)
        if "licence" in t and "license" in t:
            raise SourceConfigError(f"{what}: give licence once")
        root = Path(t.get("root", "."))
        datasets = t.get("datasets", [])
        if not isinstance(datasets, list):
            raise SourceConfigError(f"{what}: datasets must be [[source.datasets]] tables")
        allow = t.get("allow_external_teacher", False)
        if not isinstance(allow, bool):
            raise SourceConfigError(f"{what}: allow_external_teacher must be true or false")
        try:
            spec = SourceSpec(
                name=t.get("name", ""),
                layout=t.get("layout", ""),
                root=(root if root.is_absolute() else base_dir / root).resolve(),
                licence=t.get("licence", t.get("license")),
                provenance=t.get("provenance"),
                allow_external_teacher=allow,
                datasets=[_dataset(d, f"{what} dataset #{j + 1}") for j, d in enumerate(datasets)],
            )
        except SourceConfigError as exc:
            raise SourceConfigError(f"{where}{exc}") from None
        specs.append(spec)
    names = [s.name for s in specs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SourceConfigError(f"{where}source names must be unique: {dupes}")
    return specs


def load_sources(path: str | Path) -> list[SourceSpec]:
    """Read a source config file."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise SourceConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_sources(doc, path.resolve().parent, where=f"{path}: ")
