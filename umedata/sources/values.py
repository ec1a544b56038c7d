"""Per-value coercion: one Python value of a flat field (text, a path or paths, negatives) into its uniform type.

Used for records (nested layouts, JSON arrays, JSON Lines blocks Arrow could not read) and for columns whose
values vary in type. Each function raises `RowError` with a short reason when the value cannot be taken in, so
only its row is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from umedata.errors import MediaError, RowError

TEXT_FIELDS = ("qry", "pos", "dataset", "split", "task", "qry_raw", "pos_raw")
PATH_FIELDS = ("qry_image", "qry_video", "pos_image", "pos_video")

StoreBytes = Callable[[bytes], str]  # embedded image bytes -> a reference the media resolver takes


def type_name(v: Any) -> str:
    """How a JSON value's type reads in a refusal: "an object", "a list", "a number", ..."""
    return {dict: "an object", list: "a list", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(v), type(v).__name__
    )


def _utf8(s: str, name: str) -> str:
    """Strings from surrogate-escaped input carry lone surrogates where the bytes were not UTF-8."""
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:
            raise RowError("non_utf8", f"{name}: text is not valid UTF-8") from None
    return s


def text(v: Any, name: str) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return _utf8(v, name)
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            raise RowError("non_utf8", f"{name}: bytes do not decode as UTF-8") from None
    raise RowError("wrong_type", f"{name} is {type_name(v)}, expected text")


def _image(v: dict, name: str, store_bytes: StoreBytes | None) -> str | None:
    """An HF `Image` value: {bytes, path}; embedded bytes go to the media store."""
    if v.get("bytes") is not None:
        if store_bytes is None:
            raise RowError("wrong_type", f"{name}: embedded image bytes are not accepted here")
        try:
            return store_bytes(v["bytes"])
        except MediaError as exc:
            raise RowError(exc.reason, f"{name}: {exc.detail}") from None
    return text(v.get("path"), name) or None


def _path(v: str | bytes, name: str) -> str:
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            raise RowError("non_utf8", f"{name}: path is not valid UTF-8") from None
    return _utf8(v, name)


def _is_image_value(v: Any) -> bool:
    return isinstance(v, dict) and ("bytes" in v or "path" in v)


def paths(v: Any, name: str, store_bytes: StoreBytes | None = None) -> list[str]:
    """A path, a list of paths or HF `Image` values -> the list of references (empty string / null = none)."""
    if v is None or v in ("", b""):
        return []
    if isinstance(v, (str, bytes)):
        return [_path(v, name)]
    if _is_image_value(v):
        p = _image(v, name, store_bytes)
        return [p] if p else []
    if isinstance(v, list):
        out = []
        for x in v:
            if x is None or x in ("", b""):
                continue
            if isinstance(x, (str, bytes)):
                out.append(_path(x, name))
            elif _is_image_value(x):
                p = _image(x, name, store_bytes)
                if p:
                    out.append(p)
            else:
                raise RowError("wrong_type", f"{name} holds {type_name(x)}, expected paths")
        return out
    raise RowError("wrong_type", f"{name} is {type_name(v)}, expected a path or a list of paths")


def negatives(neg: Any, img: Any, store_bytes: StoreBytes | None = None) -> tuple[list[str], list[list[str]]]:
    """(texts, images per negative). Empty negatives are kept here and dropped once media are resolved."""
    if isinstance(neg, list):
        texts = [text(t, "neg") or "" for t in neg]
        if img is None or img == "":
            return texts, [[] for _ in texts]
        if not isinstance(img, list) or len(img) != len(texts):
            raise RowError("wrong_type", f"neg is a list of {len(texts)}: neg_image must be a list of the same length")
        return texts, [paths(x, "neg_image", store_bytes) for x in img]
    return [text(neg, "neg") or ""], [paths(img, "neg_image", store_bytes)]


def record(flat: dict[str, Any], store_bytes: StoreBytes | None = None) -> dict[str, Any]:
    """One record's flat fields in uniform types (text: str, paths: list[str]); raises RowError."""
    out: dict[str, Any] = {}
    for f in TEXT_FIELDS:
        if f in flat:
            out[f] = text(flat[f], f)
    for f in PATH_FIELDS:
        if f in flat:
            out[f] = paths(flat[f], f, store_bytes)
    if "neg" in flat or "neg_image" in flat:
        out["neg"], out["neg_image"] = negatives(flat.get("neg"), flat.get("neg_image"), store_bytes)
    return out
