"""Content-addressed media: hashing, path containment, image probing, videos, PDF pages, data URLs."""

from __future__ import annotations

import base64
import hashlib
import io
import os

import pytest
from ingest_fixtures import image, pdf, sha
from PIL import Image

from umedata import ids
from umedata.errors import MediaError
from umedata.media import (
    MediaResolver,
    data_url,
    is_blank,
    parse_ref,
    probe_image,
    resolve_under,
    sha256_file,
    store_path,
    video_sha256,
)


def test_sha256_file_streams_large_files(tmp_path):
    p = tmp_path / "blob.bin"
    data = os.urandom(3 << 20) + b"tail"
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()


@pytest.fixture
def tree(tmp_path):
    """root/ with an image, a symlink inside and one pointing out; outside/ next to it."""
    root = tmp_path / "root"
    image(root / "images" / "a.png")
    outside = image(tmp_path / "outside" / "secret.png")
    (root / "images" / "inside_link.png").symlink_to(root / "images" / "a.png")
    (root / "images" / "out_link.png").symlink_to(outside)
    return root, outside


def test_resolve_under_accepts_paths_inside_the_root(tree):
    root, _ = tree
    assert resolve_under(root, "images/a.png") == root / "images" / "a.png"
    assert resolve_under(root, str(root / "images" / "a.png")) == root / "images" / "a.png"
    assert resolve_under(root, "images/../images/a.png") == root / "images" / "a.png"
    # A link that stays inside keeps the name the source used.
    assert resolve_under(root, "images/inside_link.png") == root / "images" / "inside_link.png"


@pytest.mark.parametrize(
    "ref", ["../outside/secret.png", "images/../../outside/secret.png", "images/out_link.png", "ABS"]
)
def test_resolve_under_refuses_escapes(tree, ref):
    root, outside = tree
    ref = str(outside) if ref == "ABS" else ref
    with pytest.raises(MediaError) as err:
        resolve_under(root, ref)
    assert err.value.reason == "path_escape"


def test_resolver_probes_hashes_and_caches(tmp_path):
    root = tmp_path / "r"
    p = image(root / "x.jpg", size=(12, 7), fmt="JPEG")
    r = MediaResolver(root, tmp_path / "store")
    info = r.resolve("x.jpg")
    assert (info.sha256, info.kind, info.width, info.height, info.format) == (sha(p), "image", 12, 7, "JPEG")
    assert info.bytes == p.stat().st_size and info.path == str(p)
    hashed = r.bytes_hashed
    assert r.resolve("./x.jpg") == info and r.bytes_hashed == hashed  # same file, hashed once
    image(p, colour=(0, 0, 255), size=(12, 7), fmt="JPEG")
    os.utime(p, ns=(p.stat().st_atime_ns, p.stat().st_mtime_ns + 10**9))
    assert r.resolve("x.jpg").sha256 == sha(p) != info.sha256  # changed on disk: hashed again


def test_resolver_reasons(tmp_path):
    root = tmp_path / "r"
    (root / "bad.jpg").parent.mkdir(parents=True)
    (root / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    good = image(root / "good.png")
    (root / "trunc.png").write_bytes(good.read_bytes()[:30])
    r = MediaResolver(root, tmp_path / "store")
    for ref, reason in [
        ("nope.png", "missing_media"),
        ("bad.jpg", "corrupt_media"),
        ("trunc.png", "corrupt_media"),
        ("../elsewhere.png", "path_escape"),
        ("doc.pdf", "missing_media"),
    ]:
        with pytest.raises(MediaError) as err:
            r.resolve(ref)
        assert err.value.reason == reason, ref
    with pytest.raises(MediaError) as err:
        probe_image(b"")
    assert err.value.reason == "corrupt_media"


def test_video_hash_is_the_hash_of_its_frames_in_order(tmp_path):
    root = tmp_path / "r"
    frames = [image(root / f"f{k}.png", colour=(k * 60, 0, 0)) for k in range(3)]
    r = MediaResolver(root, tmp_path / "store")
    infos = [r.resolve(f"f{k}.png") for k in range(3)]
    video = r.video(infos)
    assert (
        video.sha256 == video_sha256([sha(f) for f in frames]) == ids.digest("video", ",".join(sha(f) for f in frames))
    )
    assert (video.kind, video.frames, video.path, video.bytes) == (
        "video",
        3,
        None,
        sum(f.stat().st_size for f in frames),
    )
    assert r.video(infos[::-1]).sha256 != video.sha256


def test_pdf_page_renders_into_the_content_addressed_store(tmp_path):
    root = tmp_path / "r"
    pdf(root / "doc.pdf", pages=2)
    store = tmp_path / "store"
    r = MediaResolver(root, store, dpi=72)
    p1, p2 = r.resolve("doc.pdf#page=1"), r.resolve("doc.pdf#page=2")
    assert p1.kind == p2.kind == "page" and p1.sha256 != p2.sha256
    for p in (p1, p2):
        assert p.path == str(store_path(store, p.sha256, "png"))
        assert sha(store_path(store, p.sha256, "png")) == p.sha256
        with Image.open(p.path) as img:
            assert img.format == "PNG" and img.size == (p.width, p.height) and p.width > 0
    for ref, reason in [("doc.pdf#page=3", "missing_media"), ("doc.pdf", "bad_media_ref")]:
        with pytest.raises(MediaError) as err:
            r.resolve(ref)
        assert err.value.reason == reason
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    with pytest.raises(MediaError) as err:
        r.resolve("broken.pdf#page=1")
    assert err.value.reason == "corrupt_media"


def test_stored_bytes_resolve_to_the_store(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (5, 4), "green").save(buf, format="PNG")
    r = MediaResolver(tmp_path / "r", tmp_path / "store")
    info = r.resolve(r.store_bytes(buf.getvalue()))
    assert info.sha256 == hashlib.sha256(buf.getvalue()).hexdigest() and (info.width, info.height) == (5, 4)
    assert open(info.path, "rb").read() == buf.getvalue()


def test_data_url_is_byte_exact_when_small_and_downscaled_when_large(tmp_path):
    small = image(tmp_path / "s.png", size=(10, 10))
    head, b64 = data_url(small).split(",", 1)
    assert head == "data:image/png;base64" and base64.b64decode(b64) == small.read_bytes()
    big = image(tmp_path / "b.jpg", size=(400, 200), fmt="JPEG")
    head, b64 = data_url(big, max_pixels=5000).split(",", 1)
    with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
        assert head == "data:image/jpeg;base64"
        assert img.width * img.height <= 5000 and abs(img.width / img.height - 2) < 0.1


def test_blank_placeholder_is_recognised_by_name():
    assert is_blank("images/blank.jpg") and is_blank("blank.jpg")
    assert not is_blank("images/blank.jpg.png") and not is_blank("notblank.jpg")


def test_page_fragments_belong_to_pdfs_only():
    assert parse_ref("docs/a.PDF#page=12") == ("docs/a.PDF", 12)
    assert parse_ref("docs/a.pdf") == ("docs/a.pdf", None)
    assert parse_ref("odd#page=2.png") == ("odd#page=2.png", None)
    assert parse_ref("img.png#page=2") == ("img.png#page=2", None)
