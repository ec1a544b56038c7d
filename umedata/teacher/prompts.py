"""Prompt templates as versioned files: `prompts/<modality>.md`, falling back to `prompts/default.md`.

A template has a `## system` and a `## user` section; `{text}` is the side's own text and `{gen_prompt}` is
umedata.format.GEN_PROMPT. Its `prompt_version` is a hash of the template text with the format constants filled
in, so editing a template (or the format) starts a new version and leaves annotations made with the old one
attributable, while editing the video template leaves image annotations current.

The teacher sees one side: its text and its media, nothing of the paired side, its label or its answer. `render`
takes exactly that and nothing else, so no caller can leak the other side into a request.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from umedata.format import GEN_PROMPT

BUILTIN_DIR = Path(__file__).resolve().parent / "prompts"
MEDIA_REF = "sha256:"  # media appear in stored messages as sha256:<hex>; bytes are attached only when sending
_SECTION = re.compile(r"^## (system|user)\s*$", re.MULTILINE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass(frozen=True)
class Template:
    name: str
    system: str
    user: str
    version: str

    def user_text(self, text: str) -> str:
        out = self.user.replace("{text}", text.strip())
        return re.sub(r"\n{3,}", "\n\n", out).strip()


def parse_template(name: str, source: str) -> Template:
    filled = source.replace("{gen_prompt}", GEN_PROMPT)
    version = f"{name}-{hashlib.sha256(filled.encode('utf-8')).hexdigest()[:16]}"
    body = _COMMENT.sub("", filled)
    parts = _SECTION.split(body)
    sections = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    if "user" not in sections or "{text}" not in sections["user"]:
        raise ValueError(f"template {name!r} needs a '## user' section containing {{text}}")
    return Template(name=name, system=sections.get("system", ""), user=sections["user"], version=version)


class Templates:
    """The templates of one folder, looked up by side modality."""

    def __init__(self, folder: str | Path | None = None):
        self.folder = Path(folder) if folder else BUILTIN_DIR
        self.by_name: dict[str, Template] = {}
        for path in sorted(self.folder.glob("*.md")):
            self.by_name[path.stem] = parse_template(path.stem, path.read_text(encoding="utf-8"))
        if "default" not in self.by_name:
            raise FileNotFoundError(f"{self.folder} has no default.md template")

    def for_modality(self, modality: str) -> Template:
        return self.by_name.get(modality) or self.by_name["default"]

    def versions(self) -> dict[str, str]:
        """modality-or-name -> prompt_version, for every template in the folder."""
        return {name: t.version for name, t in self.by_name.items()}

    def source_text(self, name: str) -> str:
        return (self.folder / f"{name}.md").read_text(encoding="utf-8")


def render(template: Template, text: str, media_hashes: list[str]) -> list[dict[str, Any]]:
    """OpenAI chat messages for one side; media are referenced by hash (the key and the warehouse store this)."""
    content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": MEDIA_REF + h}} for h in media_hashes]
    content.append({"type": "text", "text": template.user_text(text)})
    messages: list[dict[str, Any]] = []
    if template.system:
        messages.append({"role": "system", "content": template.system})
    messages.append({"role": "user", "content": content})
    return messages
