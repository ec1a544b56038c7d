"""The teacher's modules import one way: the wire and the books below the producer, the producer below its
consumers, the entry point on top. A backend never imports a run; nothing imports Prefect, not even lazily."""

from __future__ import annotations

import ast
from pathlib import Path

TEACHER = Path(__file__).resolve().parent.parent / "umedata" / "teacher"

# A module may import only modules of a lower rank.
RANK = {
    "config": 0, "prompts": 0, "answers": 0, "limits": 0, "offline_sight": 0,
    "keys": 1, "credentials": 1, "report": 1,
    "accounting": 2, "backends.base": 2,
    "backends.inline": 3,
    "backends.openai_compat": 4, "backends": 4, "results": 4,
    "run": 5,
    "producer": 6,
    "online": 7, "offline": 7, "batch": 7,
    "annotate": 8,
}


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}  # `from umedata.teacher import keys`
    return out


def _name(path: Path) -> str:
    rel = path.relative_to(TEACHER).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts)


def test_teacher_modules_import_downward_only_and_never_prefect():
    modules = sorted(p for p in TEACHER.rglob("*.py") if _name(p))
    assert {_name(p) for p in modules} == set(RANK)  # a new module gets its place here
    for path in modules:
        me = _name(path)
        for imported in _imports(path):
            assert not imported.split(".")[0] == "prefect", f"{me} imports {imported}"
            if not imported.startswith("umedata.teacher."):
                continue
            other = imported.removeprefix("umedata.teacher.")
            while other not in RANK and "." in other:  # `backends.base.Answer` -> `backends.base`
                other = other.rsplit(".", 1)[0]
            if other in RANK and other != me:
                assert RANK[other] < RANK[me], f"{me} imports {other}, which is not below it"
