"""Request keys and leases: what names a request, and how runs claim keys without ever sharing one."""

from __future__ import annotations

import time

from umedata.teacher import keys
from umedata.teacher.config import TeacherConfig
from umedata.teacher.prompts import Templates


def _row(text="a red square", media=None, modality="image", pv=None):
    t = Templates().for_modality(modality)
    info = [
        {
            "sha256": m,
            "kind": "image",
            "path": f"/m/{m}.png",
            "width": 4,
            "height": 4,
            "frame_paths": None,
            "frame_hashes": None,
        }
        for m in (media if media is not None else ["a" * 64])
    ]
    return {
        "side_id": keys.stable_json([text, media]),
        "text": text,
        "modality": modality,
        "source": "src",
        "external_ok": True,
        "prompt_version": pv or t.version,
        "media_info": info,
    }, t


def _key(cfg: TeacherConfig, model: str = "m", **row_kw) -> str:
    row, t = _row(**row_kw)
    kp = cfg.key_params()
    return keys.prepare(row, t, model, kp, keys.stable_json(kp)).key


def test_request_key_changes_with_what_the_teacher_sees_only():
    base = TeacherConfig(backend="offline", params={"temperature": 0.6, "seed": 0})
    k = _key(base)
    assert _key(base) == k
    assert _key(base, model="other") != k
    assert _key(base, text="a blue square") != k
    assert _key(base, media=["b" * 64]) != k
    assert _key(base, pv="image-0000") != k
    assert _key(TeacherConfig(backend="offline", params={"temperature": 0.6, "seed": 1})) != k
    assert (
        _key(TeacherConfig(backend="offline", params={"temperature": 0.6, "seed": 0}, media={"max_pixels": 1000})) != k
    )
    # how it is sent is not part of it
    assert (
        _key(
            TeacherConfig(
                backend="offline", params={"temperature": 0.6, "seed": 0}, max_in_flight=3, timeout_s=5, lease_ttl_s=1
            )
        )
        == k
    )


def test_stored_messages_reference_media_by_hash():
    row, t = _row(media=["c" * 64])
    cfg = TeacherConfig(backend="offline")
    kp = cfg.key_params()
    req = keys.prepare(row, t, "m", kp, keys.stable_json(kp))
    assert "sha256:" + "c" * 64 in req.messages_json
    assert "base64" not in req.messages_json and "/m/" not in req.messages_json


def test_video_frames_are_sampled_evenly():
    assert keys.sample_frames(3, 8) == [0, 1, 2]
    picked = keys.sample_frames(100, 5)
    assert picked[0] == 0 and picked[-1] == 99 and len(picked) == 5


def _items(n: int) -> list[keys.PreparedRequest]:
    cfg = TeacherConfig(backend="offline")
    kp = cfg.key_params()
    out = []
    for i in range(n):
        row, t = _row(text=f"side {i}", media=[])
        out.append(keys.prepare(row, t, "m", kp, keys.stable_json(kp)))
    return out


def _lease(wh, items, owner, ttl=30.0):
    with wh.transaction() as con:
        return keys.lease(
            con,
            items,
            owner=owner,
            ttl_s=ttl,
            model="m",
            backend="offline",
            key_params_json=keys.stable_json(TeacherConfig(backend="offline").key_params()),
        )


def test_a_leased_key_belongs_to_one_run_until_it_expires(warehouse):
    items = _items(6)
    a = _lease(warehouse, items[:4], "run-a", ttl=1.0)
    b = _lease(warehouse, items, "run-b", ttl=30)
    assert a == {i.key for i in items[:4]}
    assert b == {i.key for i in items[4:]}  # only what nobody holds
    time.sleep(1.1)
    c = _lease(warehouse, items, "run-c")
    assert c == a  # run-a's leases expired (it "crashed"); run-b's are still live


def test_a_done_key_is_never_leased_again(warehouse):
    items = _items(3)
    _lease(warehouse, items, "run-a", ttl=0.05)
    with warehouse.transaction() as con:
        con.execute("UPDATE teacher_requests SET status = 'done', outcome = 'ok' WHERE request_key = ?", [items[0].key])
        con.execute(
            "UPDATE teacher_requests SET status = 'failed', retryable = true WHERE request_key = ?", [items[1].key]
        )
        con.execute(
            "UPDATE teacher_requests SET status = 'failed', retryable = false WHERE request_key = ?", [items[2].key]
        )
    time.sleep(0.1)
    assert _lease(warehouse, items, "run-b") == {items[1].key}  # only the retryable failure comes back


def test_heartbeat_keeps_and_release_gives_back(warehouse):
    items = _items(2)
    _lease(warehouse, items, "run-a", ttl=1.0)
    with warehouse.transaction() as con:
        keys.heartbeat(con, "run-a", 30)
    time.sleep(1.1)
    assert _lease(warehouse, items, "run-b") == set()  # kept alive
    with warehouse.transaction() as con:
        keys.release(con, "run-a")
    assert _lease(warehouse, items, "run-b") == {i.key for i in items}
