"""The dataset card (README.md) of a version directory, rendered from its manifest.

The YAML header declares the parquet shards per split, so `datasets.load_dataset(<dir>)` works as well as
`load_dataset("parquet", data_dir=<dir>)`.
"""

from __future__ import annotations

import json
from typing import Any


def _yaml_str(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def _table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join("" if v is None else str(v).replace("|", "\\|") for v in r) + " |" for r in rows]
    return "\n".join(out)


def render(manifest: dict[str, Any]) -> str:
    splits = sorted(manifest.get("splits") or {})
    licences = sorted({s.get("licence") or "unknown" for s in manifest.get("sources", [])})
    embedded = manifest.get("media_mode") == "embedded"
    head = ["---", f"pretty_name: {_yaml_str(manifest['name'])}"]
    head.append(f"license: {_yaml_str(licences[0]) if len(licences) == 1 and licences[0] != 'unknown' else 'other'}")
    head += ["tags:", "- umedata", "- ume-r1", "- multimodal-embedding", "configs:", "- config_name: default",
             "  data_files:"]
    for split in splits:
        head += [f"  - split: {split}", f"    path: data/{split}-*"]
    head.append("---")

    counts = manifest.get("counts", {})
    by_row = [[r["dataset_name"], r["modality"], r["split"], r["pairs"]] for r in counts.get("rows", [])]
    teachers = [[t["model"], t["prompt_version"], t["sides"], t["pairs"]] for t in manifest.get("teachers", [])]
    sources = [[s["name"], s.get("layout"), s.get("licence"), s.get("provenance"), s.get("pairs")]
               for s in manifest.get("sources", [])]
    sel = manifest.get("selection", {})
    load_ref = (
        "from datasets import load_dataset\n"
        "from umedata.versions import resolve_media\n\n"
        'ds = load_dataset("parquet", data_dir="<this directory>")\n'
        'ds = resolve_media(ds, "<this directory>")   # media paths -> files under media_root, decoded as images\n'
    )
    load_emb = (
        "from datasets import load_dataset\n\n"
        'ds = load_dataset("parquet", data_dir="<this directory>")   # images decode directly\n'
    )
    body = [
        f"# {manifest['name']} ({manifest.get('kind', 'sft')})",
        "",
        f"Version `{manifest['version_id']}`, format `{manifest['format_version']}`, "
        f"{manifest.get('n_rows', 0)} pairs. The id is a hash of the rows alone: the same content always has this id.",
        "",
        f"Parents: {', '.join(f'`{p}`' for p in manifest.get('parents', [])) or 'none'}. "
        f"Built {manifest.get('built_at')} by umedata {manifest.get('code_version')}.",
        "",
        "## Loading",
        "",
        "Media are " + ("embedded in the shards (HF `Image` columns)." if embedded else
                        f"referenced by content hash under `media_root` = `{manifest.get('media_root')}` (relative "
                        "to this directory); each reference is `{bytes: null, path}`."),
        "",
        "```python",
        (load_emb if embedded else load_ref).rstrip(),
        "```",
        "",
        "Rows hold structured fields (each side's text, media, reasoning and summary); render them into chat turns "
        "with `umedata.format.render_side`.",
        "",
        "## Counts",
        "",
        _table(["dataset", "modality", "split", "pairs"], by_row),
        "",
        "## Teachers",
        "",
        _table(["model", "prompt version", "sides", "pairs"], teachers),
        "",
        "## Sources",
        "",
        _table(["source", "layout", "licence", "provenance", "pairs"], sources),
        "",
        "## Selection",
        "",
        f"Query `{sel.get('query_name')}`; options:",
        "",
        "```json",
        json.dumps(sel.get("filters", {}), indent=2, ensure_ascii=False),
        "```",
        "",
        f"Split: `{json.dumps(manifest.get('split', {}), ensure_ascii=False)}`",
        "",
        "Every build that produced this id is listed by `umedata versions show` (the registry keeps them all; this "
        "card describes the build that wrote the directory).",
        "",
    ]
    return "\n".join(head + [""] + body)
