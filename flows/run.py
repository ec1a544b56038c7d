"""Run a flow by name, locally, with the parameters of its deployment: `umedata run NAME [--param KEY=VALUE ...]`.

Prefect 3 has no `prefect run`; `prefect deployment run FLOW/DEPLOYMENT` needs a server and a worker. This runs
the flow a deployment in prefect.yaml names, in this process (Prefect starts a temporary server when none is
configured), with the deployment's parameters as defaults, then those of a `--params` file (TOML or JSON), then
`--param` overriding them. A VALUE is read as JSON
when it parses (`--param steps=3`, `--param 'datasets=["ShapesI2T"]'`), else as text. Flow names and deployment
names both work, with `-` or `_`: `build_rl_set`, `build-rl-set`.

    python -m flows.run build-sft-set --param name=sft --param eval_fraction=0.1
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def deployments(path: Path | None = None) -> list[dict[str, Any]]:
    """The deployments of prefect.yaml (the given file, ./prefect.yaml, or the one beside this package)."""
    import yaml

    for candidate in ([path] if path else [Path.cwd() / "prefect.yaml", REPO / "prefect.yaml"]):
        if candidate is not None and candidate.is_file():
            return yaml.safe_load(candidate.read_text()).get("deployments") or []
    return []


def _key(name: str) -> str:
    return name.replace("-", "_").lower()


def find(name: str, deps: list[dict[str, Any]]) -> tuple[Any, dict[str, Any]]:
    """(flow object, the deployment's parameters) for a deployment or flow name."""
    for d in deps:
        path, func = d["entrypoint"].split(":")
        module = path.removesuffix(".py").replace("/", ".")
        if _key(name) in (_key(d["name"]), _key(func.removesuffix("_flow"))):
            return getattr(importlib.import_module(module), func), dict(d.get("parameters") or {})
    known = sorted({d["name"] for d in deps})
    print(f"error: no flow or deployment named {name!r}; known: {', '.join(known) or 'none (no prefect.yaml found)'}",
          file=sys.stderr)
    raise SystemExit(2)


def load_params(path: Path) -> dict[str, Any]:
    """Parameters from a TOML or JSON file (tables become dicts: a pipeline's sft, launcher, ... settings)."""
    import tomllib

    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)


def value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv: list[str] | None = None) -> Any:
    ap = argparse.ArgumentParser(prog="umedata run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name", nargs="?", help="deployment or flow name (see prefect.yaml)")
    ap.add_argument("--param", "-p", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--params", type=Path, default=None, metavar="FILE",
                    help="a TOML or JSON file of parameters (over the deployment's; --param over both)")
    ap.add_argument("--deployments", type=Path, default=None, help="prefect.yaml to read (default: ./prefect.yaml)")
    ap.add_argument("--list", action="store_true", help="list the runnable names and exit")
    args = ap.parse_args(argv)
    deps = deployments(args.deployments)
    if args.list:
        for d in deps:
            print(f"{d['name']:16} {d['entrypoint']}")
        return None
    if not args.name:
        ap.error("name a flow to run (--list shows them)")
    flow, params = find(args.name, deps)
    if args.params:
        params.update(load_params(args.params))
    for item in args.param:
        key, sep, text = item.partition("=")
        if not sep or not key:
            print(f"error: --param takes KEY=VALUE, got {item!r}", file=sys.stderr)
            raise SystemExit(2)
        params[key.strip()] = value(text)
    result = flow(**params)
    print(json.dumps(result, default=str, indent=2))
    return result


if __name__ == "__main__":
    main()
