"""Content-addressed media: images, video frame lists and rendered PDF pages.

Every media file is known by the sha256 of its bytes. A reference in source data (a path relative to the source
root, `doc.pdf#page=3`, or a list of frame paths for a video) is resolved here into a `MediaInfo`; anything that
cannot be taken in raises `MediaError` with a short machine-readable reason that ingest writes to quarantine:

    path_escape    the path resolves outside the source root (absolute elsewhere, `..`, a symlink out)
    missing_media  no such file (or no such PDF page)
    corrupt_media  the bytes do not decode as an image / PDF
    bad_media_ref  the reference itself is malformed (e.g. a PDF without `#page=N`)

A video's sha256 is the hash of its frame hashes in order (`video_sha256`), so the same frames make the same
video. Padding to an even frame count is the trainer's business, not the warehouse's.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from umedata.errors import MediaError
from umedata.ids import digest

BLANK_NAME = "blank.jpg"  # UME-R1 convention: a side whose image is this file is text-only
STORED_PREFIX = "\x00stored:"  # refs to bytes already in the media store (NUL never occurs in a real path)
_READ_WHOLE = 64 << 20  # files up to this size are read once for both hashing and probing
_PAGE = re.compile(r"^(?P<path>.*\.pdf)#page=(?P<page>\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class MediaInfo:
    """One row of the `media` table."""

    sha256: str
    kind: str  # image | frame | video | page
    path: str | None  # absolute path of a readable file; None for a video (its frames carry paths)
    width: int | None = None
    height: int | None = None
    frames: int | None = None
    bytes: int | None = None
    format: str | None = None

    def as_row(self, kind: str | None = None) -> dict:
        return {
            "sha256": self.sha256,
            "kind": kind or self.kind,
            "path": self.path,
            "width": self.width,
            "height": self.height,
            "frames": self.frames,
            "bytes": self.bytes,
            "format": self.format,
        }


# -- hashing ---------------------------------------------------------------------------------------------------
def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Streaming sha256 of a file (constant memory, whatever its size)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def video_sha256(frame_hashes: Sequence[str]) -> str:
    """A video is its ordered frames: the same frames in the same order are the same video."""
    return digest("video", ",".join(frame_hashes))


def is_blank(ref: str) -> bool:
    """True for the UME-R1 blank placeholder image, which marks a text-only side."""
    return ref.replace("\\", "/").rsplit("/", 1)[-1] == BLANK_NAME


# -- paths -----------------------------------------------------------------------------------------------------
def resolve_under(root: str | os.PathLike[str], relpath: str | os.PathLike[str]) -> Path:
    """The absolute path `relpath` names under `root`, refusing any that escapes it.

    `relpath` may be relative to root or absolute; either way its real location (symlinks followed) must lie
    inside root's real location. Returns the lexically normalised path (symlinks kept as named), so that the
    stored path relative to the root is the reference the source wrote.
    """
    root_abs = Path(os.path.abspath(root))
    root_real = Path(os.path.realpath(root_abs))
    rel = Path(relpath)
    named = Path(os.path.normpath(rel if rel.is_absolute() else root_abs / rel))
    real = Path(os.path.realpath(named))
    if real != root_real and root_real not in real.parents:
        raise MediaError("path_escape", f"{relpath} resolves to {real}, outside {root_real}")
    return named


def parse_ref(ref: str) -> tuple[str, int | None]:
    """Split `doc.pdf#page=3` into ("doc.pdf", 3); other refs (any other name is literal) come back with None."""
    m = _PAGE.match(ref)
    if m:
        return m.group("path"), int(m.group("page"))
    return ref, None


# -- images ----------------------------------------------------------------------------------------------------
def probe_image(source: str | os.PathLike[str] | bytes) -> tuple[int, int, str]:
    """(width, height, format) of an image file or its bytes; MediaError(corrupt_media) if it does not decode."""
    from PIL import Image, UnidentifiedImageError

    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with Image.open(fp) as img:
            size, fmt = img.size, img.format
            img.verify()  # checks structure (e.g. PNG chunk CRCs) without a full decode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise MediaError("corrupt_media", f"not a readable image: {exc}") from exc
    return size[0], size[1], fmt or "UNKNOWN"


def store_path(store_dir: str | os.PathLike[str], sha: str, ext: str) -> Path:
    """Where content-addressed bytes live: <store>/<sha[:2]>/<sha>.<ext>."""
    return Path(store_dir) / sha[:2] / f"{sha}.{ext}"


def _write_once(dest: Path, data: bytes) -> None:
    """Write content-addressed bytes if absent (temp name, then rename, so readers never see half a file)."""
    if dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dest)


_PDFIUM_LOCK = threading.Lock()  # pdfium is not thread-safe


def render_pdf_page(
    pdf: str | os.PathLike[str], page: int, store_dir: str | os.PathLike[str], dpi: int = 144
) -> MediaInfo:
    """Render page `page` (1-based) of a PDF to PNG in the media store; the PNG's bytes give its sha256."""
    import pypdfium2 as pdfium

    with _PDFIUM_LOCK:
        try:
            doc = pdfium.PdfDocument(str(pdf))
        except pdfium.PdfiumError as exc:
            raise MediaError("corrupt_media", f"not a readable PDF: {exc}") from exc
        try:
            if not 1 <= page <= len(doc):
                raise MediaError("missing_media", f"{pdf} has {len(doc)} pages, no page {page}")
            image = doc[page - 1].render(scale=dpi / 72).to_pil()
        finally:
            doc.close()
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    data = buf.getvalue()
    sha = sha256_bytes(data)
    dest = store_path(store_dir, sha, "png")
    _write_once(dest, data)
    return MediaInfo(sha, "page", str(dest), image.width, image.height, None, len(data), "PNG")


def data_url(path: str | os.PathLike[str], max_pixels: int | None = None) -> str:
    """A `data:` URL for a teacher request; images above `max_pixels` are downscaled (aspect kept).

    An image already small enough in a format every API takes is sent byte for byte.
    """
    from PIL import Image

    raw = Path(path).read_bytes()
    with Image.open(io.BytesIO(raw)) as img:
        fmt = (img.format or "").upper()
        w, h = img.size
        if (max_pixels is None or w * h <= max_pixels) and fmt in {"JPEG", "PNG", "WEBP", "GIF"}:
            return f"data:image/{fmt.lower()};base64,{base64.b64encode(raw).decode('ascii')}"
        if max_pixels is not None and w * h > max_pixels:
            scale = (max_pixels / (w * h)) ** 0.5
            img = img.resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.Resampling.LANCZOS)
        out_fmt = "JPEG" if fmt == "JPEG" and img.mode in {"RGB", "L"} else "PNG"
        if out_fmt == "PNG" and img.mode not in {"RGB", "RGBA", "L", "LA", "P"}:
            img = img.convert("RGBA")
        buf = io.BytesIO()
        img.save(buf, format=out_fmt, **({"quality": 90} if out_fmt == "JPEG" else {}))
    return f"data:image/{out_fmt.lower()};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


# -- resolving references of one source ------------------------------------------------------------------------
class MediaResolver:
    """Resolves the media references of one source root, hashing each file once per run.

    The cache key is (path, size, mtime_ns): a file shared by many rows is hashed once, and a file replaced
    during the run is hashed again.
    """

    def __init__(self, root: str | os.PathLike[str], store_dir: str | os.PathLike[str], dpi: int = 144):
        self.root = Path(os.path.abspath(root))
        self.store_dir = Path(store_dir)
        self.dpi = dpi
        self._cache: dict[tuple[str, int, int, int | None], MediaInfo] = {}
        self._stored: dict[str, MediaInfo] = {}
        self._lock = threading.Lock()
        self.bytes_hashed = 0

    def resolve(self, ref: str) -> MediaInfo:
        """MediaInfo for one image/page reference (kind image or page); raises MediaError."""
        if ref.startswith(STORED_PREFIX):
            info = self._stored.get(ref[len(STORED_PREFIX) :])
            if info is None:
                raise MediaError("missing_media", "embedded image not in the media store")
            return info
        relpath, page = parse_ref(ref)
        if not relpath:
            raise MediaError("bad_media_ref", f"empty path in {ref!r}")
        path = resolve_under(self.root, relpath)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise MediaError("missing_media", f"{relpath}: no such file") from None
        except (NotADirectoryError, PermissionError) as exc:
            raise MediaError("missing_media", f"{relpath}: {exc.strerror}") from None
        if not path.is_file():
            raise MediaError("missing_media", f"{relpath}: not a file")
        if page is None and path.suffix.lower() == ".pdf":
            raise MediaError("bad_media_ref", f"{relpath}: a PDF reference names a page, e.g. {relpath}#page=1")
        key = (str(path), st.st_size, st.st_mtime_ns, page)
        info = self._cache.get(key)
        if info is None:
            info = self._load(path, page, st.st_size)
            with self._lock:
                self._cache[key] = info
                self.bytes_hashed += st.st_size
        return info

    def _load(self, path: Path, page: int | None, size: int) -> MediaInfo:
        if page is not None:
            return render_pdf_page(path, page, self.store_dir, self.dpi)
        try:
            if size <= _READ_WHOLE:
                data = path.read_bytes()
                sha = sha256_bytes(data)
                w, h, fmt = probe_image(data)
            else:
                sha = sha256_file(path)
                w, h, fmt = probe_image(path)
        except PermissionError as exc:
            raise MediaError("missing_media", f"{path}: {exc.strerror}") from None
        return MediaInfo(sha, "image", str(path), w, h, None, size, fmt)

    def store_bytes(self, data: bytes) -> str:
        """Put embedded image bytes (e.g. an HF `Image` column) into the store; returns a ref `resolve` takes."""
        sha = sha256_bytes(data)
        if sha not in self._stored:
            w, h, fmt = probe_image(data)
            dest = store_path(self.store_dir, sha, (fmt or "bin").lower())
            _write_once(dest, data)
            with self._lock:
                self._stored[sha] = MediaInfo(sha, "image", str(dest), w, h, None, len(data), fmt)
                self.bytes_hashed += len(data)
        return STORED_PREFIX + sha

    def video(self, frames: Sequence[MediaInfo]) -> MediaInfo:
        """The media row of a video given its resolved frames in order."""
        first = frames[0]
        return MediaInfo(
            video_sha256([f.sha256 for f in frames]),
            "video",
            None,
            first.width,
            first.height,
            len(frames),
            sum(f.bytes or 0 for f in frames),
            None,
        )
