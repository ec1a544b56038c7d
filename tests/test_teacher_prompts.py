"""Prompt templates, the offline stand-in and the config: the parts of a request that are decided before sending."""

from __future__ import annotations

import pytest

from umedata.format import parse_assistant
from umedata.teacher.config import OFFLINE_MODEL, ConfigError, TeacherConfig, load_config
from umedata.teacher.keys import MediaRef, PreparedRequest
from umedata.teacher.offline import compose
from umedata.teacher.prompts import MEDIA_REF, Templates, parse_template, render


def test_prompt_version_is_a_hash_of_the_template_text(tmp_path):
    (tmp_path / "default.md").write_text("## system\nBe brief.\n## user\n{text}\n\n{gen_prompt}\n")
    (tmp_path / "image.md").write_text("## system\nLook closely.\n## user\n{text}\n")
    v1 = Templates(tmp_path).versions()
    assert Templates(tmp_path).versions() == v1  # stable across loads
    (tmp_path / "image.md").write_text("## system\nLook very closely.\n## user\n{text}\n")
    v2 = Templates(tmp_path).versions()
    assert v2["image"] != v1["image"]  # an edited template is a new version ...
    assert v2["default"] == v1["default"]  # ... and the others stay current


def test_modality_falls_back_to_default_template():
    t = Templates()
    assert t.for_modality("image").name == "image"
    assert t.for_modality("audio").name == "default"


def test_template_without_text_placeholder_is_refused():
    with pytest.raises(ValueError):
        parse_template("bad", "## system\nx\n## user\nno placeholder\n")


def test_render_carries_only_the_side_and_media_hashes():
    t = Templates().for_modality("image")
    msgs = render(t, "a red square", ["ab" * 32])
    user = msgs[-1]["content"]
    assert user[0] == {"type": "image_url", "image_url": {"url": MEDIA_REF + "ab" * 32}}
    assert "a red square" in user[-1]["text"]
    assert "<gen_emb>" in user[-1]["text"]  # the format's own generation prompt, from umedata.format


def _req(text: str, modality: str = "text", media=(), n_frames: int = 0) -> PreparedRequest:
    return PreparedRequest(
        key="k" * 64,
        side_id="s",
        source="src",
        modality=modality,
        text=text,
        external_ok=True,
        prompt_version="v",
        messages=[],
        messages_json="[]",
        media=list(media),
        n_frames=n_frames,
    )


@pytest.mark.parametrize(
    "req",
    [
        _req("Which shape is left of the blue circle?"),
        _req("", "image", [MediaRef("a" * 64, "/x.png", "image", 640, 480)]),
        _req("a dog running", "video", [MediaRef("b" * 64, "/f.png", "frame")] * 4, n_frames=9),
        _req("page about <think>tags</think> and <gen_emb> in text", "visdoc", [MediaRef("c" * 64, "/p.png", "page")]),
    ],
)
def test_offline_answer_parses_ok_and_uses_only_the_side(req):
    reasoning, summary = compose(req)
    from umedata.format import assistant_text

    parsed = parse_assistant(assistant_text(reasoning, summary))
    assert parsed.ok, parsed.status
    assert "Offline template" in parsed.reasoning  # its rows can never pass for a real teacher's
    assert compose(req) == (reasoning, summary)  # deterministic


def test_offline_is_never_a_default_and_always_says_so():
    with pytest.raises(ConfigError):
        load_config(None)  # no backend named: refused, rather than silently offline
    assert TeacherConfig(backend="offline").model == OFFLINE_MODEL
    with pytest.raises(ConfigError):
        TeacherConfig(backend="offline", model="gpt-4o")
    with pytest.raises(ConfigError):
        TeacherConfig.from_dict({"backend": "openai", "model": "offline-x", "endpoints": [{"base_url": "http://h/v1"}]})


@pytest.mark.parametrize(
    "bad",
    [
        {"endpoints": [{"base_url": "http://h/v1", "api_key": "sk-123"}]},
        {"endpoints": [{"base_url": "http://user:pw@h/v1"}]},
        {"endpoints": [{"base_url": "http://h/v1", "headers": {"Authorization": "Bearer x"}}]},
    ],
)
def test_config_refuses_secrets(bad):
    with pytest.raises(ConfigError):
        TeacherConfig.from_dict({"backend": "openai", "model": "m", **bad})


def test_key_params_hold_what_the_teacher_sees_and_nothing_else():
    a = TeacherConfig.from_dict({"backend": "offline", "params": {"seed": 1}, "max_in_flight": 8})
    b = TeacherConfig.from_dict({"backend": "offline", "params": {"seed": 1}, "max_in_flight": 512, "timeout_s": 9})
    c = TeacherConfig.from_dict({"backend": "offline", "params": {"seed": 2}})
    assert a.key_params() == b.key_params()
    assert a.key_params() != c.key_params()
