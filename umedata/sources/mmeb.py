"""MMEB-train as laid out by VLM2Vec: parquet or JSON Lines with `qry`, `qry_image_path`, `pos_text`,
`pos_image_path` and optional `neg_text`, `neg_image_path`.

Texts carry `<|image_N|>` placeholders where the N-th image of the side goes; the stored text drops them and the
image path (a string, or a list in order) becomes the side's ordered media. An empty path means no image.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from umedata.sources.adapter import Adapter

PLACEHOLDER = r"<\|image_\d+\|>"

# MMEB-train's 20 datasets and their meta-task (VLM2Vec, Jiang et al. 2024): the task of a pair whose dataset
# configures none, whatever the layout (the UME-R1 JSON names the same datasets).
KNOWN_TASKS = {
    **dict.fromkeys(["ImageNet_1K", "N24News", "HatefulMemes", "VOC2007", "SUN397"], "classification"),
    **dict.fromkeys(["OK-VQA", "A-OKVQA", "DocVQA", "InfographicsVQA", "ChartQA", "Visual7W"], "vqa"),
    **dict.fromkeys(
        ["VisDial", "CIRR", "VisualNews_t2i", "VisualNews_i2t", "MSCOCO_t2i", "MSCOCO_i2t", "NIGHTS", "WebQA"],
        "retrieval",
    ),
    "MSCOCO": "grounding",
}


def strip_placeholders(arr: pa.Array) -> pa.Array:
    """Remove `<|image_N|>` placeholders and the whitespace they leave at either end."""
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, PLACEHOLDER, ""))


class MMEBAdapter(Adapter):
    layout = "mmeb"

    def mapping(self) -> dict[str, str]:
        return {
            "qry": "qry",
            "qry_image": "qry_image_path",
            "pos": "pos_text",
            "pos_image": "pos_image_path",
            "neg": "neg_text",
            "neg_image": "neg_image_path",
        }

    def clean(self, arr: pa.Array) -> pa.Array:
        return strip_placeholders(arr)
