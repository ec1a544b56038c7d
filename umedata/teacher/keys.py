"""Request keys and leases: how a side's request is named, and how a run claims it before sending.

request_key = hash(model, prompt_version, rendered messages with media *hashes*, sampling params + seed, media
bounds). Anything that changes what the teacher is asked changes the key; nothing else does (endpoints, limits and
retries are not in it), so tuning a run never re-sends a finished request.

Leases are rows of teacher_requests_open written in one warehouse transaction before any of their keys is sent
(schemas/queries/teacher_lease.sql). DuckDB lets one process write at a time, so two runs claiming at once are
serialised by the file lock and each key goes to exactly one of them. A lease whose run died expires after
lease_ttl_s and is claimable by the next run.

The open table holds only keys that are not done (migration 0009), so a lease never looks at the requests already
answered and costs the same at a million as at a thousand. A done key is never claimed again because the keys a run
leases come from its own selection (teacher_pending.sql), made after it became live: a key done before that is not
selected, and one done by another run after that stays in the open table as a tombstone while this run lives.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from umedata import clock, sql
from umedata.ids import digest
from umedata.teacher.prompts import Template, render


def stable_json(obj: Any) -> str:
    """Stable JSON (sorted keys, no spaces, UTF-8 kept): the form every hash is taken over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def params_hash(key_params: dict[str, Any]) -> str:
    return hashlib.sha256(stable_json(key_params).encode("utf-8")).hexdigest()


def request_key(model: str, prompt_version: str, messages_json: str, key_params_json: str) -> str:
    return digest("teacher-request", model, prompt_version, messages_json, key_params_json)


@dataclass(slots=True)
class MediaRef:
    sha256: str
    path: str | None
    kind: str = "image"
    width: int | None = None
    height: int | None = None


@dataclass(slots=True)
class PreparedRequest:
    """One side's request, ready to lease and send. Holds paths, never image bytes."""

    key: str
    side_id: str
    source: str
    modality: str
    text: str
    external_ok: bool
    prompt_version: str
    messages: list[dict[str, Any]]
    messages_json: str
    media: list[MediaRef] = field(default_factory=list)
    n_frames: int = 0  # video sides: frames in the source video (media holds the sampled ones)
    problem: str | None = None  # set when the request cannot be built (e.g. media_missing): never sent


def sample_frames(n: int, k: int) -> list[int]:
    """k indices spread evenly over n frames, first and last included."""
    if n <= k:
        return list(range(n))
    if k == 1:
        return [0]
    return sorted({round(i * (n - 1) / (k - 1)) for i in range(k)})


def prepare(
    row: dict[str, Any], template: Template, model: str, key_params: dict[str, Any], key_params_json: str
) -> PreparedRequest:
    """Build the request of one pending side (a row of teacher_pending.sql)."""
    media: list[MediaRef] = []
    problem = None
    n_frames = 0
    max_frames = int(key_params["media"]["max_frames"])
    for m in row.get("media_info") or []:
        kind = m.get("kind")
        if kind == "video":
            paths, hashes = m.get("frame_paths") or [], m.get("frame_hashes") or []
            n_frames = len(paths)
            if not paths:
                problem = "media_missing"
            for i in sample_frames(len(paths), max_frames):
                media.append(MediaRef(hashes[i], paths[i], "frame"))
        else:
            if kind is None or not m.get("path"):
                problem = "media_missing"
            media.append(MediaRef(m["sha256"], m.get("path"), kind or "image", m.get("width"), m.get("height")))
    messages = render(template, row["text"], [m.sha256 for m in media])
    messages_json = stable_json(messages)
    return PreparedRequest(
        key=request_key(model, row["prompt_version"], messages_json, key_params_json),
        side_id=row["side_id"],
        source=row["source"] or "unknown",
        modality=row["modality"],
        text=row["text"],
        external_ok=bool(row["external_ok"]),
        prompt_version=row["prompt_version"],
        messages=messages,
        messages_json=messages_json,
        media=media,
        n_frames=n_frames,
        problem=problem,
    )


# -- leases ----------------------------------------------------------------------------------------------------
_CANDIDATES = pa.schema(
    [
        ("request_key", pa.string()),
        ("side_id", pa.string()),
        ("source", pa.string()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("params_hash", pa.string()),
        ("backend", pa.string()),
        ("messages", pa.string()),
        ("params", pa.string()),
        ("created_at", pa.timestamp("us")),
    ]
)


def lease(
    con,
    items: list[PreparedRequest],
    *,
    owner: str,
    ttl_s: float,
    model: str,
    backend: str,
    key_params_json: str,
    status: str = "leased",
    retry_failed: bool = False,
    alive_s: float | None = None,
) -> set[str]:
    """Claim `items` for `owner` inside the caller's transaction; returns the keys now owned (others skip). The
    owner's run stays live for `alive_s` more (default ttl_s)."""
    if not items:
        return set()
    now = clock.utcnow()
    ph = hashlib.sha256(key_params_json.encode("utf-8")).hexdigest()
    n = len(items)
    cand = pa.table(
        [
            [i.key for i in items],
            [i.side_id for i in items],
            [i.source for i in items],
            [model] * n,
            [i.prompt_version for i in items],
            [ph] * n,
            [backend] * n,
            [i.messages_json for i in items],
            [key_params_json] * n,
            [now] * n,
        ],
        schema=_CANDIDATES,
    )
    con.register("candidates", cand)
    try:
        rows = sql.execute(con, "teacher_lease", {
            "owner": owner, "ttl_s": float(ttl_s), "alive_s": float(ttl_s if alive_s is None else alive_s),
            "status": status, "retry_failed": retry_failed,
        })
    finally:
        con.unregister("candidates")
    return {r[0] for r in rows}


def heartbeat(con, owner: str, ttl_s: float, alive_s: float | None = None) -> None:
    """Extend the leases `owner` holds and its liveness, and drop tombstones nobody needs, inside the caller's
    transaction."""
    sql.execute(con, "teacher_heartbeat", {"owner": owner, "ttl_s": float(ttl_s),
                                           "alive_s": float(ttl_s if alive_s is None else alive_s)})
    sql.execute(con, "teacher_tombstones")


def release(con, owner: str) -> None:
    """Give back the keys `owner` leased but did not finish (claimable at once), end its liveness, and drop the
    tombstones nobody needs any more, inside the caller's transaction."""
    sql.execute(con, "teacher_release", {"owner": owner})
    sql.execute(con, "teacher_tombstones")
