"""umedata.format: the prompt bytes, rendering, parsing and the reward's format regex."""

import subprocess
import sys

import pytest

from umedata import format as F


def test_gen_prompt_is_the_reference_text_byte_for_byte():
    expected = (
        "Represent the above input text, images, videos, or any combination of the three as embeddings. "
        "First output the thinking process in <think> </think> tags and then summarize the entire input in a word "
        "or sentence. Finally, use the <gen_emb> tag to represent the entire input."
    )
    assert F.GEN_PROMPT == expected
    assert F.user_text("a red circle") == "a red circle\n<disc_emb>\n" + expected


def test_render_side_orders_media_before_text_and_adds_assistant_turn():
    msgs = F.render_side("two squares", n_images=2, reasoning="I see two.", summary="two squares")
    user, assistant = msgs
    assert [c["type"] for c in user["content"]] == ["image", "image", "text"]
    assert user["content"][-1]["text"].startswith("two squares\n<disc_emb>\n")
    assert assistant["content"][0]["text"] == "<think>I see two.</think><answer>two squares<gen_emb>"
    video = F.render_side("moving", video=True)
    assert len(video) == 1 and [c["type"] for c in video[0]["content"]] == ["video", "text"]
    with pytest.raises(ValueError):
        F.render_side("x", n_images=1, video=True)
    with pytest.raises(ValueError):
        F.render_side("x", reasoning="only reasoning")


@pytest.mark.parametrize(
    "text,status,reasoning,summary,closed",
    [
        ("<think>r</think><answer>s<gen_emb>", "ok", "r", "s", False),
        ("<think> r \n</think>\n<answer> s </answer><gen_emb><|im_end|>", "ok", "r", "s", True),
        ("", "empty", None, None, False),
        ("   ", "empty", None, None, False),
        ("just a sentence", "no_think", None, None, False),
        ("<think>never closed <answer>s<gen_emb>", "unclosed_think", None, None, False),
        ("<think>r</think> s <gen_emb>", "no_answer", None, None, False),
        ("<think>r</think><answer>s", "no_gen_emb", None, None, False),
        ("<think></think><answer>s<gen_emb>", "empty_reasoning", "", "s", False),
        ("<think>r</think><answer> <gen_emb>", "empty_summary", "r", "", False),
    ],
)
def test_parse_assistant(text, status, reasoning, summary, closed):
    p = F.parse_assistant(text)
    assert p.status == status
    assert p.status in F.PARSE_STATUSES
    assert (p.reasoning, p.summary, p.closed_answer) == (reasoning, summary, closed)


def test_render_then_parse_round_trips_both_answer_styles():
    for close in (False, True):
        text = F.assistant_text("multi\nline reasoning", "a summary", close_answer=close)
        p = F.parse_assistant(text)
        assert (p.reasoning, p.summary, p.closed_answer, p.ok, p.format_ok) == (
            "multi\nline reasoning", "a summary", close, True, True)


def test_format_reward_matches_across_lines_and_rejects_missing_parts():
    assert F.format_reward("<think>a\nb</think>\n<answer>c\n<gen_emb>") == 1.0
    assert F.format_reward("<think>a</think><gen_emb>") == 0.0
    assert F.format_reward("<answer>c<gen_emb>") == 0.0


def test_strip_prompt_removes_tags_marker_and_wrapped_prompt():
    wrapped = F.GEN_PROMPT.replace(". ", ".\n")  # published copies wrap the prompt over lines
    assert F.strip_prompt(f"<image>\nWhat is shown?\n<disc_emb>\n{wrapped}") == "What is shown?"
    assert F.strip_prompt(f"<video>\nA clip\n<disc_emb>\n{F.GEN_PROMPT}") == "A clip"
    assert F.strip_prompt("plain text") == "plain text"


def test_unknown_format_version_is_refused():
    F.check_format_version(F.FORMAT_VERSION)
    with pytest.raises(ValueError, match="not one this code knows"):
        F.check_format_version("ume-r1/999")


def test_format_imports_with_only_the_standard_library():
    # A GPU image has torch and transformers but no duckdb/prefect: block them and import.
    code = (
        "import sys\n"
        "for m in ('duckdb','prefect','polars','pyarrow','openai','typer'): sys.modules[m] = None\n"
        "import umedata, umedata.format\n"
        "print(umedata.format.FORMAT_VERSION)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == F.FORMAT_VERSION
