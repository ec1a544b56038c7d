"""What may go where: the teacher sees only the side it annotates, and sources that forbid external teachers
only ever reach self-hosted endpoints. Checked on the request bodies the servers actually received."""

from __future__ import annotations

import json

import teacher_helpers as th
from openai_server import OpenAIServer, Script

from umedata.teacher.online import OnlineRun


def _texts(body: bytes) -> str:
    """All text the teacher was shown in one request."""
    msgs = json.loads(body)["messages"]
    out = []
    for m in msgs:
        c = m["content"]
        out += [c] if isinstance(c, str) else [p.get("text", "") for p in c]
    return "\n".join(out)


def test_the_teacher_sees_only_the_side_it_annotates(warehouse, tmp_path):
    data = th.seed(warehouse, tmp_path, n_pairs=12, images=True, shared_target=3)
    with OpenAIServer(Script(latency_s=0.001, record_bodies=True)) as srv:
        OnlineRun(warehouse, th.config(srv.url)).run()
        bodies = list(srv.stats.bodies)
    texts = {s["text"] for s in data["sides"].values()}
    assert len(bodies) == len(data["sides"])
    shown_sides = []
    for body in bodies:
        shown = _texts(body)
        own = [t for t in texts if t in shown]
        assert len(own) == 1, own  # its own text, and no other side's: never the paired side, label or answer
        shown_sides.append(own[0])
    assert sorted(shown_sides) == sorted(texts)
    # media travel as data URLs to the teacher, but are stored by hash only
    image_bodies = [b for b in bodies if b"image_url" in b]
    assert image_bodies and all(b"data:image/png;base64," in b for b in image_bodies)
    stored = warehouse.sql("SELECT messages::VARCHAR AS m FROM teacher_requests").column("m").to_pylist()
    assert all("base64" not in m for m in stored)
    assert any("sha256:" in m for m in stored)


def test_sources_without_external_permission_only_reach_self_hosted_endpoints(warehouse, tmp_path):
    closed = th.seed(warehouse, tmp_path, n_pairs=8, source="closed", external_ok=False, prefix="C", images=False)
    th.seed(warehouse, tmp_path, n_pairs=8, source="open", external_ok=True, prefix="O", images=False)
    closed_texts = [s["text"] for s in closed["sides"].values()]
    with (
        OpenAIServer(Script(latency_s=0.01, record_bodies=True)) as ext,
        OpenAIServer(Script(latency_s=0.01, record_bodies=True)) as own,
    ):
        cfg = th.config(
            None,
            endpoints=[
                {"base_url": ext.url, "name": "paid-api", "self_hosted": False, "max_in_flight": 8},
                {"base_url": own.url, "name": "our-vllm", "self_hosted": True, "max_in_flight": 8},
            ],
        )
        summary = OnlineRun(warehouse, cfg).run()
        ext_bodies, own_bodies = list(ext.stats.bodies), list(own.stats.bodies)
    assert summary.ok == 32
    assert ext_bodies and own_bodies  # requests were spread over both
    for body in ext_bodies:
        assert not any(t in _texts(body) for t in closed_texts)
    routed = {
        r["endpoint"]
        for r in warehouse.sql(
            "SELECT DISTINCT r.endpoint FROM teacher_requests r "
            "JOIN pairs p ON r.side_id IN (p.qry_side_id, p.pos_side_id) WHERE p.source = 'closed'"
        ).to_pylist()
    }
    assert routed == {"our-vllm"}


def test_with_no_self_hosted_endpoint_closed_sources_are_not_sent_at_all(warehouse, tmp_path):
    th.seed(warehouse, tmp_path, n_pairs=5, source="closed", external_ok=False, prefix="C", images=False)
    th.seed(warehouse, tmp_path, n_pairs=5, source="open", external_ok=True, prefix="O", images=False)
    th.seed(warehouse, tmp_path, n_pairs=1, source="open", external_ok=True, prefix="C", images=False)  # shared sides
    with OpenAIServer(Script(latency_s=0.001)) as ext:
        cfg = th.config(ext.url, endpoint={"self_hosted": False})
        summary = OnlineRun(warehouse, cfg).run()
        assert ext.stats.snapshot()["total"] == 10  # the open source's own sides only
    assert summary.blocked_external == 10
    # the most restrictive source wins: a side the open source shares with the closed one stays home
    assert (
        warehouse.sql(
            "SELECT count(*) AS n FROM teacher_requests r JOIN pairs p ON r.side_id IN (p.qry_side_id, p.pos_side_id) "
            "WHERE p.source = 'closed'"
        )["n"][0].as_py()
        == 0
    )
