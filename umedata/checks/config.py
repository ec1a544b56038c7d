"""The thresholds file: shipped defaults (umedata/schemas/checks/defaults.toml), a user's file over them, and
per-dataset overrides; hashed into the checks version.

    cfg = load_config("my_checks.toml", student="runs/tiny")     # keys left out keep the defaults
    cfg.version                                                    # the checks version (content hash)
    cfg.measure_key("repetition")                                  # same key -> stored values are reused

A user's file may set `[checks]` keys, any rule's threshold (`min` or `max`, whichever the rule has), `enabled`
and measure settings, and per-dataset `min`/`max`/`enabled` under `[datasets."NAME".rules.RULE]`. A side used by
pairs of several datasets gets the strictest of their thresholds (as a source that forbids external teachers
wins for the teacher). Unknown keys are refused, so a misspelt threshold never silently keeps its default.
"""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from umedata import sql
from umedata.checks.rules import MEASURE_VERSION, RULES
from umedata.errors import UserError
from umedata.ids import digest
from umedata.toml_config import read_toml, refuse_unknown

CHECKS_KEYS = {"student", "suite_sample_rows", "suites_dir"}
# Settings that change nothing a verdict depends on: left out of the checks version.
_NOT_HASHED = {"student", "suites_dir"}


class ChecksConfigError(UserError, ValueError):
    pass


def defaults_text() -> str:
    return (sql.schemas() / "checks" / "defaults.toml").read_text(encoding="utf-8")


def _stable(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


@dataclass
class RuleSettings:
    name: str
    enabled: bool
    threshold: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def op(self) -> str:
        return RULES[self.name].op


@dataclass
class ChecksConfig:
    """The effective thresholds. `tokenizer_sha` is filled in once the student tokenizer is resolved."""

    raw: dict[str, Any]
    rules: dict[str, RuleSettings]
    datasets: dict[str, dict[str, dict[str, Any]]]  # dataset -> rule -> {min|max|enabled}
    student: str = ""
    suite_sample_rows: int = 20_000
    suites_dir: str = ""
    tokenizer_sha: str | None = None
    sources: list[str] = field(default_factory=list)  # the files read, defaults first

    # -- what the version hashes ---------------------------------------------------------------------------------
    def hashed(self) -> dict[str, Any]:
        """The settings a verdict depends on, as one JSON-able dict (stored with the version)."""
        checks = {k: v for k, v in self.raw.get("checks", {}).items() if k not in _NOT_HASHED}
        rules = {n: {"enabled": r.enabled, RULES[n].op: r.threshold, **r.params} for n, r in sorted(self.rules.items())}
        return {"checks": checks, "rules": rules, "datasets": self.datasets}

    @property
    def lengths_on(self) -> bool:
        return self.tokenizer_sha is not None

    def enabled(self, name: str) -> bool:
        """Enabled in the defaults or in any dataset, and measurable (length rules need the student tokenizer)."""
        if RULES[name].tokens and not self.lengths_on:
            return False
        r = self.rules[name]
        return r.enabled or any(o.get("enabled") for o in (d.get(name, {}) for d in self.datasets.values()))

    @property
    def version(self) -> str:
        return digest("checks", MEASURE_VERSION, _stable(self.hashed()), self.tokenizer_sha or "no-tokenizer")

    def measure_key(self, name: str) -> str:
        """Same key -> the same value for every annotation: values stored under it are reused, never re-measured."""
        rule = RULES[name]
        params = {p: self.rules[name].params.get(p) for p in rule.params}
        return digest("measure", MEASURE_VERSION, name, _stable(params), (self.tokenizer_sha or "no-tokenizer") if rule.tokens else "")

    def dataset_thresholds(self) -> list[dict[str, Any]]:
        """Rows (dataset_name, rule, threshold, enabled) for every dataset override, defaults filled in."""
        out = []
        for ds, rules in sorted(self.datasets.items()):
            for name, o in sorted(rules.items()):
                base = self.rules[name]
                out.append({"dataset_name": ds, "rule": name,
                            "threshold": float(o.get(base.op, base.threshold)),
                            "enabled": bool(o.get("enabled", base.enabled))})
        return out


def _rule_settings(name: str, data: dict[str, Any], where: str) -> RuleSettings:
    rule = RULES[name]
    other = "min" if rule.op == "max" else "max"
    allowed = {"enabled", rule.op, *rule.params}
    if other in data:
        raise ChecksConfigError(f"{where}: rule {name!r} takes `{rule.op}`, not `{other}` ({rule.about})")
    refuse_unknown(data, allowed, ChecksConfigError, f"{where}: unknown keys for rule {name!r}")
    if rule.op not in data:
        raise ChecksConfigError(f"{where}: rule {name!r} needs a `{rule.op}` threshold")
    missing = [p for p in rule.params if p not in data]
    if missing:
        raise ChecksConfigError(f"{where}: rule {name!r} needs {missing}")
    enabled = bool(data.get("enabled", True))
    if name == "format" and not enabled:
        raise ChecksConfigError("the format rule cannot be disabled: every checked annotation carries its verdict")
    return RuleSettings(name, enabled, float(data[rule.op]), {p: data[p] for p in rule.params})


def from_dict(data: dict[str, Any], sources: list[str] | None = None) -> ChecksConfig:
    refuse_unknown(data, {"checks", "rules", "datasets"}, ChecksConfigError, "unknown sections in the thresholds file")
    checks = data.get("checks", {})
    refuse_unknown(checks, CHECKS_KEYS, ChecksConfigError, "unknown [checks] keys")
    rules_data = data.get("rules", {})
    refuse_unknown(rules_data, RULES, ChecksConfigError, "unknown rules")
    missing = set(RULES) - set(rules_data)
    if missing:
        raise ChecksConfigError(f"rules without settings: {sorted(missing)}")
    rules = {n: _rule_settings(n, rules_data[n], f"[rules.{n}]") for n in RULES}
    datasets: dict[str, dict[str, dict[str, Any]]] = {}
    for ds, body in (data.get("datasets") or {}).items():
        if set(body) - {"rules"}:
            raise ChecksConfigError(f"[datasets.{ds!r}] takes only a `rules` table")
        for name, o in (body.get("rules") or {}).items():
            if name not in RULES:
                raise ChecksConfigError(f"[datasets.{ds!r}.rules]: unknown rule {name!r}")
            op = RULES[name].op
            bad = set(o) - {op, "enabled"}
            if bad:
                raise ChecksConfigError(
                    f"[datasets.{ds!r}.rules.{name}]: only `{op}` and `enabled` may differ per dataset, not {sorted(bad)}"
                    " (measure settings are the same for every dataset, so stored values stay comparable)")
            datasets.setdefault(ds, {})[name] = dict(o)
    return ChecksConfig(
        raw=data, rules=rules, datasets=datasets, student=str(checks.get("student") or ""),
        suite_sample_rows=int(checks.get("suite_sample_rows", 20_000)), suites_dir=str(checks.get("suites_dir") or ""),
        sources=list(sources or []),
    )


def load_config(path: str | Path | None = None, *, student: str | None = None,
                overrides: dict[str, Any] | None = None) -> ChecksConfig:
    """Defaults, then the user's file (if any), then `overrides` (a dict shaped like the file); `student` wins over
    the file's [checks] student."""
    data = tomllib.loads(defaults_text())
    sources = ["umedata/schemas/checks/defaults.toml"]
    if path:
        data = _merge(data, read_toml(path, ChecksConfigError, "thresholds file"))
        sources.append(str(Path(path).resolve()))
    if overrides:
        data = _merge(data, overrides)
    if student is not None:
        data.setdefault("checks", {})["student"] = student
    return from_dict(data, sources)


def file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()
