"""Any JSON Lines / JSON / parquet file or HF `save_to_disk` folder, with a column mapping.

The mapping names, for each of our fields (qry, qry_image, qry_video, pos, pos_image, pos_video, neg, neg_image,
dataset, split, task), the column that holds it. Text is stored as written. Image columns may hold paths or HF
`Image` values ({bytes, path}); embedded bytes are written to the media store.
"""

from __future__ import annotations

from umedata.sources.adapter import Adapter


class GenericAdapter(Adapter):
    layout = "generic"

    def mapping(self) -> dict[str, str]:
        return dict(self.dataset.columns)

    def required(self) -> set[str]:
        # Every column the user named must exist: a typo must not silently ingest empty sides.
        return set(self.dataset.columns)
