"""The UME-R1 training JSON (zhibinlan/UME-sft-train, zhibinlan/UME-rl-train).

SFT rows: `{dataset_name, qry: {conversations: [{from: "human", value}, {from: "gpt", value}], image? | video?},
pos: {...}}`. The human turn has the prompt baked in (`<image>`/`<video>` tags, `<disc_emb>`, the generation
prompt); the stored side text is the side's own text (`umedata.format.strip_prompt`). The gpt turn is kept
byte for byte as an imported annotation, so an export can rebuild the row.

RL rows: `qry_text, qry_image, qry_video, pos_text, pos_image, pos_video` (+ `dataset_name`), same stripping.

Both use `blank.jpg` as the image of a text-only side; the ingest core drops it wherever it appears.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from umedata.errors import RowError
from umedata.format import strip_prompt
from umedata.sources.adapter import Adapter
from umedata.sources.values import type_name


def strip_prompts(arr: pa.Array) -> pa.Array:
    return pa.array([None if s is None else strip_prompt(s) for s in arr.to_pylist()], pa.string())


class UmeR1RLAdapter(Adapter):
    layout = "ume_r1_rl"

    def mapping(self) -> dict[str, str]:
        return {
            "qry": "qry_text",
            "qry_image": "qry_image",
            "qry_video": "qry_video",
            "pos": "pos_text",
            "pos_image": "pos_image",
            "pos_video": "pos_video",
            "dataset": "dataset_name",
        }

    def clean(self, arr: pa.Array) -> pa.Array:
        return strip_prompts(arr)


class UmeR1SFTAdapter(Adapter):
    layout = "ume_r1_sft"
    nested = True

    def mapping(self) -> dict[str, str]:
        return {"dataset": "dataset_name"}

    def clean(self, arr: pa.Array) -> pa.Array:
        return strip_prompts(arr)

    def flatten_record(self, obj: dict[str, Any]) -> dict[str, Any]:
        flat: dict[str, Any] = {"dataset": obj.get("dataset_name")}
        for side in ("qry", "pos"):
            s = obj.get(side)
            if not isinstance(s, dict):
                raise RowError("wrong_type", f"{side} is {type_name(s)}, expected an object with conversations")
            human, gpt = _turns(s.get("conversations"), side)
            flat[side] = human
            flat[f"{side}_raw"] = gpt
            flat[f"{side}_image"] = s.get("image")
            flat[f"{side}_video"] = s.get("video")
        return flat


def _turns(conv: Any, side: str) -> tuple[Any, Any]:
    """(human value, gpt value or None): exactly one human turn and at most one gpt turn."""
    if not isinstance(conv, list) or not all(isinstance(c, dict) for c in conv):
        raise RowError("wrong_type", f"{side}.conversations is {type_name(conv)}, expected a list of turns")
    human = [c.get("value") for c in conv if c.get("from") == "human"]
    gpt = [c.get("value") for c in conv if c.get("from") == "gpt"]
    if len(human) != 1 or len(gpt) > 1 or len(human) + len(gpt) != len(conv):
        roles = [c.get("from") for c in conv]
        raise RowError("wrong_type", f"{side}.conversations has turns {roles}, expected one human and at most one gpt")
    return human[0], (gpt[0] if gpt else None)
