"""Content ids: every key in the warehouse is a hash of content, so re-ingesting the same thing adds nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

ID_HEX = 32  # hex characters kept of the sha256 (128 bits)
_SEP = "\x1f"  # unit separator: cannot occur in hex hashes and is vanishingly rare in text


def digest(*parts: str) -> str:
    """sha256 over the parts (joined unambiguously), cut to 128 bits (32 hex characters).

    128 bits keep collisions out of reach (birthday bound ~2^64 ids) while halving the key bytes that DuckDB
    joins and writes at every commit: 1 M-pair ingests commit ~25 % faster than with full 64-character ids.
    Media keep their full sha256: that one is a file checksum as well as a key.
    """
    return hashlib.sha256(_SEP.join(parts).encode("utf-8", "surrogatepass")).hexdigest()[:ID_HEX]


def side_id(text: str, media: Iterable[str]) -> str:
    """A side is its text plus its ordered media hashes; order matters (<|image_1|> before <|image_2|>)."""
    return digest("side", text, ",".join(media))


def pair_id(source: str, dataset: str, split: str, qry: str, pos: str, negatives: Iterable[str] = ()) -> str:
    return digest("pair", source, dataset, split, qry, pos, ",".join(negatives))


def quarantine_id(source: str, what: str, reason: str) -> str:
    return digest("quarantine", source, what, reason)


def annotation_id(key: str) -> str:
    """One annotation per key, so a late duplicate commit of the same key is ignored, never doubled. The key is
    the teacher request key, or `import_key(...)` for an assistant text imported with the data."""
    return digest("annotation", key)


def import_key(side: str, model: str, prompt_version: str, raw: str) -> str:
    """What names an imported annotation in place of a request key: its side, origin labels and exact text."""
    return digest("import", side, model, prompt_version, raw)
