"""Reading the project's TOML config files (quality-gate thresholds, eval sets): one way to say that a file is
missing, is not valid TOML, or holds keys nothing reads, each as the caller's own error class (a UserError: the
command line prints it in one line). Unknown keys are refused, never ignored: a misspelt threshold or option
would otherwise keep its default without a word.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def read_toml(path: str | Path, error: type[Exception], what: str) -> dict[str, Any]:
    """The document of the TOML file `path`; `error` names the file when it is missing ("no <what> <path>") or
    not valid TOML (with the parser's line and column)."""
    p = Path(path)
    if not p.is_file():
        raise error(f"no {what} {p}")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{p}: not valid TOML: {exc}") from None


def refuse_unknown(found: Iterable[str], known: Iterable[str], error: type[Exception], message: str) -> None:
    """Raise `error` when `found` holds names outside `known`: "<message>: [names] (known: [...])"."""
    known = set(known)
    unknown = set(found) - known
    if unknown:
        raise error(f"{message}: {sorted(unknown)} (known: {sorted(known)})")
