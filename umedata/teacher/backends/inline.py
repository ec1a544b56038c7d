"""Media on the wire: a request's `sha256:<hex>` media references replaced by data URLs of the bytes.

The warehouse and the request key hold media by hash only; the bytes are read, bounded to the configured pixel
count and base64-encoded when a request leaves: for the online backend at send time, for the Batch API exporter
when it writes the request file. A medium that cannot be read becomes a final (not retryable) TransportError.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from umedata.teacher.backends.base import TransportError
from umedata.teacher.keys import PreparedRequest
from umedata.teacher.prompts import MEDIA_REF


class DataUrlCache:
    """Encoded media by (sha256, max_pixels), bounded in bytes: a shared image (a class label's picture) is read
    and encoded once, and memory stays flat however long the run."""

    def __init__(self, max_bytes: int = 64 << 20):
        self.max_bytes = max_bytes
        self.size = 0
        self._items: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, sha: str, path: str, max_pixels: int) -> str:
        from umedata.media import data_url  # lazy: PIL only when a request carries media

        k = (sha, max_pixels)
        with self._lock:
            hit = self._items.get(k)
            if hit is not None:
                self._items.move_to_end(k)
                return hit
        url = data_url(path, max_pixels)
        if len(url) <= self.max_bytes // 4:
            with self._lock:
                if k not in self._items:
                    self._items[k] = url
                    self.size += len(url)
                while self.size > self.max_bytes and self._items:
                    _, old = self._items.popitem(last=False)
                    self.size -= len(old)
        return url


def inline_media(req: PreparedRequest, max_pixels: int, cache: DataUrlCache) -> list[dict[str, Any]]:
    """The request's messages with each sha256:<hex> media reference replaced by a data URL of its bytes."""
    paths = {m.sha256: m.path for m in req.media}
    out = []
    for msg in req.messages:
        content = msg["content"]
        if isinstance(content, list):
            parts = []
            for part in content:
                url = part.get("image_url", {}).get("url", "") if part.get("type") == "image_url" else ""
                if url.startswith(MEDIA_REF):
                    sha = url[len(MEDIA_REF) :]
                    path = paths.get(sha)
                    try:
                        if not path:
                            raise FileNotFoundError(sha)
                        encoded = cache.get(sha, path, max_pixels)
                    except FileNotFoundError as exc:
                        raise TransportError("media_missing", f"{sha}: {exc}", retryable=False) from None
                    except Exception as exc:  # undecodable bytes: a media problem, not a teacher one
                        raise TransportError("corrupt_media", f"{sha}: {exc}", retryable=False) from None
                    part = {"type": "image_url", "image_url": {**part["image_url"], "url": encoded}}
                parts.append(part)
            msg = {**msg, "content": parts}
        out.append(msg)
    return out
