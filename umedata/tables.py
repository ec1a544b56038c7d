"""Arrow schemas of rows staged into shared warehouse tables, kept equal to schemas/migrations (a test checks).

Producers that write the same table (ingest imports annotations, the teacher writes them too) build their
batches with these, so a column added to the DDL is added in one place.
"""

from __future__ import annotations

import pyarrow as pa

TS = pa.timestamp("us")

MEDIA = pa.schema(
    [
        ("sha256", pa.string()),
        ("kind", pa.string()),
        ("path", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("frames", pa.int32()),
        ("bytes", pa.int64()),
        ("format", pa.string()),
    ]
)
VIDEO_FRAMES = pa.schema([("video_sha256", pa.string()), ("frame_index", pa.int32()), ("frame_sha256", pa.string())])
ANNOTATIONS = pa.schema(
    [
        ("annotation_id", pa.string()),
        ("side_id", pa.string()),
        ("request_key", pa.string()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("reasoning", pa.string()),
        ("summary", pa.string()),
        ("raw", pa.string()),
        ("format_status", pa.string()),
        ("closed_answer", pa.bool_()),
        ("origin", pa.string()),
        ("created_at", TS),
    ]
)
QUARANTINE = pa.schema(
    [
        ("quarantine_id", pa.string()),
        ("source", pa.string()),
        ("stage", pa.string()),
        ("what", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("created_at", TS),
    ]
)

BY_TABLE = {"media": MEDIA, "video_frames": VIDEO_FRAMES, "annotations": ANNOTATIONS, "quarantine": QUARANTINE}
