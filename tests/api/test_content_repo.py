"""The content repository (content-repo.yaml, modules/content_repo.rst): POST /upload, GET
/download/{serverName}/{mediaId}[/{fileName}], GET /thumbnail/{serverName}/{mediaId},
GET /preview_url, GET /config; Synapse's admin API and `hearth quarantine-media` to quarantine
media. Thumbnails are decoded with PIL (python3-pil) to check their size and type; previews
fetch pages from a small HTTP server this module runs on 127.0.0.1."""

import collections
import hashlib
import http.server
import io
import os
import re
import secrets
import socket
import struct
import threading
import time
import zlib

import pytest
from PIL import Image

from harness import SHARED_SECRET, SERVER_NAME, User, admin_mac, run_cli, unique_localpart

MXC_RE = re.compile(r"^mxc://([^/]+)/([A-Za-z0-9_-]+)$")
# SPEC: content_repo.rst: the recommended Content-Security-Policy.
CSP = ("sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; "
       "style-src 'unsafe-inline'; object-src 'self';")


# ---- helpers -------------------------------------------------------------------------------

def media(prefix, what):
    return "/_matrix/media/%s/%s" % (prefix, what)


def upload(api, data, content_type="application/octet-stream", filename=None, expect=200):
    params = {"filename": filename} if filename is not None else None
    headers = {"Content-Type": content_type} if content_type is not None else {}
    r = api.post(media(api.prefix, "upload"), data=data, headers=headers, params=params)
    r.expect(expect)
    if expect != 200:
        return r
    m = MXC_RE.match(r.body["content_uri"])
    assert m, r.body
    assert m.group(1) == SERVER_NAME
    return r.body["content_uri"]


def server_and_id(mxc):
    return mxc[len("mxc://"):]


def download(api, mxc, name=None, **kw):
    path = media(api.prefix, "download/" + server_and_id(mxc))
    if name is not None:
        path += "/" + name
    return api.get(path, **kw)


def thumbnail(api, mxc, width, height, method=None, **kw):
    params = {"width": width, "height": height}
    if method:
        params["method"] = method
    return api.get(media(api.prefix, "thumbnail/" + server_and_id(mxc)), params=params, **kw)


def image_bytes(w, h, fmt="PNG", mode="RGB", color=(200, 30, 30)):
    b = io.BytesIO()
    Image.new(mode, (w, h), color).save(b, fmt)
    return b.getvalue()


def decoded(r):
    assert r.status == 200, r
    img = Image.open(io.BytesIO(r.raw.content))
    img.load()
    return img


def content_files(srv):
    out = set()
    for root, _, files in os.walk(os.path.join(srv.data_dir, "media_store", "content")):
        out.update(os.path.join(root, f) for f in files)
    return out


def tmp_files(srv):
    return os.listdir(os.path.join(srv.data_dir, "media_store", "tmp"))


def make_admin(srv):
    api = srv.api("r0")
    nonce = api.get("/_synapse/admin/v1/register").expect(200).body["nonce"]
    name, pw = unique_localpart("admin"), "pw-admin-1"
    r = api.post("/_synapse/admin/v1/register", {
        "nonce": nonce, "username": name, "password": pw, "admin": True,
        "mac": admin_mac(SHARED_SECRET, nonce, name, pw, True)}).expect(200)
    return User.from_response(r.body, pw, srv)


@pytest.fixture(scope="module")
def uploader(server):
    return server.api("r0").register()


@pytest.fixture
def up(uploader, prefix):
    return uploader.api(prefix)


# ---- upload and download -------------------------------------------------------------------

def test_upload_and_download(up, prefix):
    data = b"hello media " + secrets.token_bytes(32)
    mxc = upload(up, data, "application/pdf", "report.pdf")
    r = download(up.with_token(None), mxc)  # SPEC: downloads need no authentication
    r.expect(200)
    assert r.raw.content == data
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Length"] == str(len(data))
    assert r.headers["Content-Security-Policy"] == CSP
    assert r.headers["Content-Disposition"] == "attachment; filename=report.pdf"
    assert r.headers["Accept-Ranges"] == "bytes"
    # Media never changes: cacheable, unlike API answers.
    assert "public" in r.headers["Cache-Control"]


def test_media_ids_are_random_and_unguessable(up):
    ids = [MXC_RE.match(upload(up, b"same")).group(2) for _ in range(5)]
    assert len(set(ids)) == 5
    for i in ids:
        assert len(i) >= 20


def test_download_streams_large_file(up):
    data = secrets.token_bytes(3 * 1024 * 1024 + 17)
    mxc = upload(up, data, "application/octet-stream")
    r = download(up, mxc)
    r.expect(200)
    assert hashlib.sha256(r.raw.content).digest() == hashlib.sha256(data).digest()


def test_chunked_upload_without_content_length(up):
    parts = [secrets.token_bytes(10000) for _ in range(7)]
    mxc = upload(up, (p for p in parts), "application/octet-stream")
    assert download(up, mxc).expect(200).raw.content == b"".join(parts)


def test_upload_without_content_type_is_octet_stream(up):
    mxc = upload(up, b"untyped", content_type=None)
    r = download(up, mxc).expect(200)
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert r.headers["Content-Disposition"] == "attachment"


def test_empty_upload(up):
    mxc = upload(up, b"", "text/plain")
    r = download(up, mxc).expect(200)
    assert r.raw.content == b""
    assert r.headers["Content-Length"] == "0"


def test_upload_needs_an_account(server, prefix):
    api = server.api(prefix)
    api.post(media(prefix, "upload"), data=b"x").expect(401, "M_MISSING_TOKEN")
    api.post(media(prefix, "upload"), data=b"x", token="nope").expect(401, "M_UNKNOWN_TOKEN")
    guest = api.post("/register", {}, params={"kind": "guest"}).expect(200).body["access_token"]
    api.post(media(prefix, "upload"), data=b"x", token=guest).expect(403, "M_GUEST_ACCESS_FORBIDDEN")


def test_upload_rejects_unprintable_content_type(up, prefix):
    up.post(media(prefix, "upload"), data=b"x",
            headers={"Content-Type": "text/plain\x7f"}).expect(400, "M_INVALID_PARAM")


@pytest.mark.parametrize("ctype,name,want", [
    ("image/png", "cat.png", "inline; filename=cat.png"),
    ("image/png", None, "inline"),
    ("IMAGE/PNG", "cat.png", "inline; filename=cat.png"),
    ("text/plain", "notes.txt", "inline; filename=notes.txt"),
    ("video/mp4", "clip.mp4", "inline; filename=clip.mp4"),
    # Anything a browser could run is an attachment.
    ("text/html", "page.html", "attachment; filename=page.html"),
    ("image/svg+xml", "vector.svg", "attachment; filename=vector.svg"),
    ("application/javascript", "x.js", "attachment; filename=x.js"),
    # RFC 6266: a name that is not a token goes %-encoded in filename*.
    ("application/pdf", "résumé 1.pdf", "attachment; filename*=utf-8''r%C3%A9sum%C3%A9%201.pdf"),
    ("application/pdf", 'a"b;c.pdf', "attachment; filename*=utf-8''a%22b%3Bc.pdf"),
    ("application/pdf", "雪.pdf", "attachment; filename*=utf-8''%E9%9B%AA.pdf"),
])
def test_content_disposition(up, ctype, name, want):
    mxc = upload(up, b"body", ctype, name)
    assert download(up, mxc).expect(200).headers["Content-Disposition"] == want


def test_download_file_name_overrides(up):
    mxc = upload(up, b"body", "image/png", "original.png")
    r = download(up, mxc, "other%20name.png").expect(200)
    assert r.headers["Content-Disposition"] == "inline; filename*=utf-8''other%20name.png"
    r = download(up, mxc, "plain.png").expect(200)
    assert r.headers["Content-Disposition"] == "inline; filename=plain.png"


def test_text_is_served_as_utf8(up):
    mxc = upload(up, "héllo".encode(), "text/plain")
    assert download(up, mxc).expect(200).headers["Content-Type"] == "text/plain; charset=UTF-8"
    mxc = upload(up, b"a,b", "text/csv; charset=latin1")
    assert download(up, mxc).expect(200).headers["Content-Type"] == "text/csv; charset=latin1"


def test_head_download(up):
    data = secrets.token_bytes(1000)
    mxc = upload(up, data, "image/jpeg")
    r = up.request("HEAD", media(up.prefix, "download/" + server_and_id(mxc)))
    r.expect(200)
    assert r.raw.content == b""
    assert r.headers["Content-Length"] == "1000"
    assert r.headers["Content-Type"] == "image/jpeg"


def test_identical_uploads_share_one_file(server, up):
    data = secrets.token_bytes(5000)
    before = content_files(server)
    a = upload(up, data, "application/octet-stream", "a.bin")
    b = upload(up, data, "text/plain", "b.txt")
    assert a != b
    added = content_files(server) - before
    digest = hashlib.sha256(data).hexdigest()
    assert [os.path.basename(p) for p in added] == [digest]
    # Each keeps its own metadata.
    assert download(up, a).expect(200).headers["Content-Disposition"] == "attachment; filename=a.bin"
    assert download(up, b).expect(200).headers["Content-Type"] == "text/plain; charset=UTF-8"
    c = upload(up, data + b"!", "application/octet-stream")
    assert len(content_files(server) - before) == 2
    assert download(up, c).expect(200).raw.content == data + b"!"
    assert tmp_files(server) == []


@pytest.mark.parametrize("path", [
    "download/%s/AAAAAAAAAAAAAAAAAAAAAAAA" % SERVER_NAME,
    "download/%s/AAAAAAAAAAAAAAAAAAAAAAAA/name.txt" % SERVER_NAME,
    "thumbnail/%s/AAAAAAAAAAAAAAAAAAAAAAAA?width=32&height=32" % SERVER_NAME,
    # SPEC: content_repo.rst: media IDs are sanitised (A-Za-z0-9_-): traversals cannot exist.
    "download/%s/..%%2F..%%2Fhomeserver.yaml" % SERVER_NAME,
    "download/%s/abc.def" % SERVER_NAME,
    # Remote media needs federation: not found.
    "download/other.example/AAAAAAAAAAAAAAAAAAAAAAAA",
    "download/other.example/AAAAAAAAAAAAAAAAAAAAAAAA?allow_remote=false",
    "thumbnail/other.example/AAAAAAAAAAAAAAAAAAAAAAAA?width=32&height=32",
])
def test_unknown_media_is_not_found(api, path):
    api.get(media(api.prefix, path)).expect(404, "M_NOT_FOUND")


def test_remote_media_of_a_known_id_is_not_found(up):
    mxc = upload(up, b"local only")
    media_id = MXC_RE.match(mxc).group(2)
    up.get(media(up.prefix, "download/other.example/" + media_id)).expect(404, "M_NOT_FOUND")


def test_allow_remote(up):
    mxc = upload(up, b"x")
    assert download(up, mxc, params={"allow_remote": "false"}).expect(200).raw.content == b"x"
    assert download(up, mxc, params={"allow_remote": "true"}).expect(200).raw.content == b"x"
    download(up, mxc, params={"allow_remote": "maybe"}).expect(400, "M_INVALID_PARAM")


# ---- ranges ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ranged(uploader):
    data = bytes(range(256)) * 4
    return upload(uploader.api(), data, "application/octet-stream"), data


@pytest.mark.parametrize("header,start,end", [
    ("bytes=10-19", 10, 19),
    ("bytes=0-0", 0, 0),
    ("bytes=1000-", 1000, 1023),
    ("bytes=-24", 1000, 1023),
    ("bytes=1000-5000", 1000, 1023),  # the end is clamped
    ("bytes=-5000", 0, 1023),
])
def test_range(api, ranged, header, start, end):
    mxc, data = ranged
    r = download(api, mxc, headers={"Range": header})
    r.expect(206)
    assert r.raw.content == data[start:end + 1]
    assert r.headers["Content-Range"] == "bytes %d-%d/%d" % (start, end, len(data))
    assert r.headers["Content-Length"] == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_range_not_satisfiable(api, ranged, header):
    mxc, data = ranged
    r = download(api, mxc, headers={"Range": header}).expect(416, "M_UNKNOWN")
    assert r.headers["Content-Range"] == "bytes */%d" % len(data)


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=abc", "lines=1-2", "bytes=9-3", "bytes=--1"])
def test_range_ignored(api, ranged, header):
    """Several ranges (RFC 7233 lets a server answer the whole) and malformed headers."""
    mxc, data = ranged
    r = download(api, mxc, headers={"Range": header}).expect(200)
    assert r.raw.content == data


# ---- too large ---------------------------------------------------------------------------------

LIMIT = 100 * 1024


@pytest.fixture(scope="module")
def small(module_server_factory):
    """max_upload_size 100K, max_image_pixels 10K (about 100 x 100)."""
    srv = module_server_factory({"max_upload_size": "100K", "max_image_pixels": "10K"})
    return srv, srv.api("r0").register()


def test_config(small, server, prefix):
    srv, user = small
    assert user.api(prefix).get(media(prefix, "config")).expect(200).body == {"m.upload.size": LIMIT}
    u = server.api(prefix).register()
    assert u.api(prefix).get(media(prefix, "config")).expect(200).body == {
        "m.upload.size": 50 * 1024 * 1024}
    server.api(prefix).get(media(prefix, "config")).expect(401, "M_MISSING_TOKEN")


def test_upload_limit_exact(small):
    srv, user = small
    data = secrets.token_bytes(LIMIT)
    mxc = upload(user.api(), data)
    assert download(user.api(), mxc).expect(200).raw.content == data


def test_upload_too_large_by_content_length(small, prefix):
    srv, user = small
    r = upload(user.api(prefix), secrets.token_bytes(LIMIT + 1), expect=413)
    assert r.errcode == "M_TOO_LARGE"
    assert tmp_files(srv) == []


def test_upload_too_large_chunked(small):
    """Without a Content-Length the limit is enforced while the body streams in."""
    srv, user = small
    before = content_files(srv)
    chunks = [secrets.token_bytes(16 * 1024) for _ in range(LIMIT // (16 * 1024) + 2)]
    r = upload(user.api(), (c for c in chunks), expect=413)
    assert r.errcode == "M_TOO_LARGE"
    assert tmp_files(srv) == []
    assert content_files(srv) == before
    # The server is still there for the next upload.
    upload(user.api(), b"fine")


def raw_upload_headers(srv, token, length, extra=""):
    return ("POST /_matrix/media/r0/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Authorization: Bearer %s\r\nContent-Type: application/octet-stream\r\n"
            "Content-Length: %d\r\n%s\r\n" % (token, length, extra)).encode()


def test_upload_too_large_answered_before_the_body(small):
    """With Expect: 100-continue the 413 comes before a byte of the body is sent."""
    srv, user = small
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(raw_upload_headers(srv, user.access_token, 10 * 1024 * 1024 * 1024,
                                     "Expect: 100-continue\r\n"))
        head = s.recv(4096).decode("latin-1")
    assert head.startswith("HTTP/1.1 413"), head
    assert '"errcode":"M_TOO_LARGE"' in head


def test_interrupted_upload_leaves_nothing(small):
    srv, user = small
    before = content_files(srv)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(raw_upload_headers(srv, user.access_token, 50000))
        s.sendall(secrets.token_bytes(20000))
        time.sleep(0.2)
    for _ in range(100):
        if not tmp_files(srv):
            break
        time.sleep(0.05)
    assert tmp_files(srv) == []
    assert content_files(srv) == before
    srv.assert_alive()


def test_thumbnail_of_image_over_max_image_pixels(small):
    """SPEC: content_repo.rst: no thumbnails for images that are too large: 413 M_TOO_LARGE.
    The image itself downloads."""
    srv, user = small
    data = image_bytes(200, 200, "PNG")
    mxc = upload(user.api(), data, "image/png")
    thumbnail(user.api(), mxc, 32, 32, "crop").expect(413, "M_TOO_LARGE")
    assert download(user.api(), mxc).expect(200).raw.content == data
    # Within the limit: fine.
    mxc = upload(user.api(), image_bytes(100, 100, "PNG"), "image/png")
    assert decoded(thumbnail(user.api(), mxc, 32, 32, "crop")).size == (32, 32)


# ---- thumbnails ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def photo(uploader):
    return upload(uploader.api(), image_bytes(1000, 500, "JPEG"), "image/jpeg", "photo.jpg")


# (request, method) -> size answered, for a 1000 x 500 image and the default thumbnail_sizes
# (32x32 crop, 96x96 crop, 320x240 scale, 640x480 scale, 800x600 scale).
@pytest.mark.parametrize("req,method,want", [
    ((32, 32), "crop", (32, 32)),
    ((20, 20), "crop", (32, 32)),      # the smallest configured size at least as large
    ((64, 64), "crop", (96, 96)),
    ((96, 96), "crop", (96, 96)),
    ((100, 100), "crop", (100, 100)),  # none large enough: made to measure, never smaller
    ((120, 60), "crop", (120, 60)),    # a configured 96x96 would be too small
    ((800, 800), "crop", (500, 500)),  # the largest of that aspect without upscaling
    ((300, 300), "scale", (320, 160)),
    ((700, 100), "scale", (320, 160)),
    ((640, 480), "scale", (640, 320)),
    ((900, 900), "scale", (900, 450)),
    ((100, 100), None, (320, 160)),    # scale is the default method
])
def test_thumbnail_sizes(api, photo, req, method, want):
    r = thumbnail(api, photo, req[0], req[1], method)
    img = decoded(r)
    assert img.size == want
    assert img.format == "JPEG" and r.headers["Content-Type"] == "image/jpeg"
    assert r.headers["Content-Security-Policy"] == CSP
    # SPEC: content_repo.rst: never smaller than asked unless the content is.
    if method == "crop" and req != (800, 800):
        assert img.size[0] >= req[0] and img.size[1] >= req[1]


def test_thumbnail_of_small_image_is_the_original(up):
    """SPEC: content_repo.rst: "When the content is smaller than the requested dimensions,
    servers should return the original content rather than thumbnail it.\""""
    for fmt, ctype in (("PNG", "image/png"), ("JPEG", "image/jpeg")):
        data = image_bytes(40, 30, fmt)
        mxc = upload(up, data, ctype)
        for method in ("crop", "scale"):
            r = thumbnail(up, mxc, 64, 64, method).expect(200)
            assert r.raw.content == data
            assert r.headers["Content-Type"] == ctype


def test_thumbnail_answers_by_content_not_declared_type(up):
    data = image_bytes(40, 30, "PNG")
    mxc = upload(up, data, "text/html")
    r = thumbnail(up, mxc, 64, 64).expect(200)
    assert r.headers["Content-Type"] == "image/png"


def test_thumbnail_type_follows_transparency(up):
    # Transparent pixels: PNG.
    mxc = upload(up, image_bytes(400, 400, "PNG", "RGBA", (0, 0, 255, 100)), "image/png")
    r = thumbnail(up, mxc, 96, 96, "crop")
    img = decoded(r)
    assert (img.format, r.headers["Content-Type"], img.size) == ("PNG", "image/png", (96, 96))
    assert img.mode in ("RGBA", "LA")
    assert img.getpixel((10, 10))[-1] == 100
    # An alpha channel that is opaque everywhere: a photo for our purposes, JPEG.
    mxc = upload(up, image_bytes(400, 400, "PNG", "RGBA", (0, 0, 255, 255)), "image/png")
    r = thumbnail(up, mxc, 96, 96, "crop")
    assert (decoded(r).format, r.headers["Content-Type"]) == ("JPEG", "image/jpeg")
    # No alpha at all.
    mxc = upload(up, image_bytes(400, 400, "PNG", "RGB"), "image/png")
    assert decoded(thumbnail(up, mxc, 96, 96, "crop")).format == "JPEG"


def animated_gif(w, h, colors):
    frames = [Image.new("RGB", (w, h), c) for c in colors]
    b = io.BytesIO()
    frames[0].save(b, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return b.getvalue()


def test_animated_gif_thumbnail_is_the_first_frame(up):
    data = animated_gif(300, 200, [(255, 0, 0), (0, 0, 255), (0, 255, 0)])
    assert Image.open(io.BytesIO(data)).n_frames == 3
    mxc = upload(up, data, "image/gif")
    img = decoded(thumbnail(up, mxc, 96, 96, "crop"))
    assert img.size == (96, 96) and img.format in ("JPEG", "PNG")
    r, g, b = img.convert("RGB").getpixel((48, 48))
    assert r > 200 and g < 60 and b < 60, (r, g, b)
    # Smaller than asked: not the GIF itself (thumbnails are JPEG or PNG), its first frame.
    small = animated_gif(50, 40, [(0, 255, 0), (255, 0, 0)])
    mxc = upload(up, small, "image/gif")
    r = thumbnail(up, mxc, 96, 96, "scale")
    img = decoded(r)
    assert r.headers["Content-Type"] in ("image/jpeg", "image/png")
    assert img.size == (50, 40)
    assert img.convert("RGB").getpixel((25, 20))[1] > 200


def test_webp_thumbnail(up):
    mxc = upload(up, image_bytes(300, 300, "WEBP"), "image/webp")
    img = decoded(thumbnail(up, mxc, 32, 32, "crop"))
    assert img.size == (32, 32) and img.format == "JPEG"


def test_exif_orientation_is_applied(up):
    img = Image.new("RGB", (400, 200), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: shown 200 x 400
    b = io.BytesIO()
    img.save(b, "JPEG", exif=exif.tobytes())
    mxc = upload(up, b.getvalue(), "image/jpeg")
    # 320x240 scale is the smallest configured size holding 50 x 100 (the ideal answer).
    assert decoded(thumbnail(up, mxc, 100, 100, "scale")).size == (120, 240)


def test_thumbnails_are_cached_on_disk(server, up):
    data = image_bytes(1200, 900, "JPEG")
    mxc = upload(up, data, "image/jpeg")
    first = thumbnail(up, mxc, 320, 240, "scale").expect(200).raw.content
    digest = hashlib.sha256(data).hexdigest()
    tdir = os.path.join(server.data_dir, "media_store", "thumbnails", digest[:2], digest[2:4], digest)
    assert os.listdir(tdir) == ["320x240-scale"]
    with open(os.path.join(tdir, "320x240-scale"), "rb") as f:
        assert f.read() == first
    assert thumbnail(up, mxc, 320, 240, "scale").expect(200).raw.content == first
    # Another request answered by the same size does not make another file.
    thumbnail(up, mxc, 300, 200, "scale").expect(200)
    assert os.listdir(tdir) == ["320x240-scale"]
    # The same content under another ID shares the cache.
    other = upload(up, data, "image/jpeg")
    assert thumbnail(up, other, 320, 240, "scale").expect(200).raw.content == first


def test_thumbnail_of_non_image(up):
    """As Synapse: 400 M_UNKNOWN for content that has no thumbnails."""
    for data, ctype in ((b"just some text", "text/plain"), (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
                        (b"%PDF-1.4 nothing", "application/pdf")):
        mxc = upload(up, data, ctype)
        thumbnail(up, mxc, 32, 32, "crop").expect(400, "M_UNKNOWN")


@pytest.mark.parametrize("params,errcode", [
    ({"height": 32}, "M_MISSING_PARAM"),
    ({"width": 32}, "M_MISSING_PARAM"),
    ({"width": "abc", "height": 32}, "M_INVALID_PARAM"),
    ({"width": 32, "height": "1.5"}, "M_INVALID_PARAM"),
    ({"width": 0, "height": 32}, "M_INVALID_PARAM"),
    ({"width": -5, "height": 32}, "M_INVALID_PARAM"),
    ({"width": 32, "height": 32, "method": "stretch"}, "M_INVALID_PARAM"),
])
def test_thumbnail_bad_parameters(api, photo, params, errcode):
    api.get(media(api.prefix, "thumbnail/" + server_and_id(photo)), params=params).expect(400, errcode)


def test_dynamic_thumbnails(server_factory):
    srv = server_factory({"dynamic_thumbnails": True})
    api = srv.api("r0").register().api()
    mxc = upload(api, image_bytes(1000, 500, "JPEG"), "image/jpeg")
    assert decoded(thumbnail(api, mxc, 64, 64, "crop")).size == (64, 64)
    assert decoded(thumbnail(api, mxc, 300, 300, "scale")).size == (300, 150)


def test_configured_thumbnail_sizes(server_factory):
    srv = server_factory({"thumbnail_sizes": [{"width": 50, "height": 50, "method": "crop"},
                                              {"width": 500, "height": 500, "method": "scale"}]})
    api = srv.api("r0").register().api()
    mxc = upload(api, image_bytes(1000, 500, "JPEG"), "image/jpeg")
    assert decoded(thumbnail(api, mxc, 32, 32, "crop")).size == (50, 50)
    assert decoded(thumbnail(api, mxc, 100, 100, "scale")).size == (500, 250)


# ---- malformed images: the request fails, never the server ---------------------------------------

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(w, h, idat=b""):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat)
            + png_chunk(b"IEND", b""))


def png_bomb(w, h):
    """A complete grey PNG of w x h zero pixels: a few kilobytes on the wire."""
    z = zlib.compressobj(9)
    row = b"\x00" * (w + 1)
    body = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    return png_declaring(w, h, body)


def gif_declaring(w, h):
    return (b"GIF89a" + struct.pack("<HHBBB", w, h, 0, 0, 0)
            + b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x02\x02\x44\x01\x00\x3b")


def jpeg_declaring(w, h):
    good = image_bytes(16, 16, "JPEG")
    i = good.index(b"\xff\xc0")
    return good[:i + 5] + struct.pack(">HH", h, w) + good[i + 9:]


def corpus():
    # Larger than every configured size, so both methods decode (an image no larger than the
    # thumbnail asked for is answered as it is, undecoded).
    png = image_bytes(1000, 700, "PNG")
    jpg = image_bytes(1000, 700, "JPEG")
    gif = animated_gif(1000, 700, [(255, 0, 0), (0, 0, 255)])
    return [
        # Truncated files.
        ("png-truncated", png[:len(png) // 2], 400),
        ("png-header-only", png[:33], 400),
        ("jpeg-truncated", jpg[:len(jpg) // 2], 400),
        ("jpeg-soi-only", b"\xff\xd8\xff", 400),
        ("gif-truncated", gif[:len(gif) // 2], 400),
        ("gif-header-only", gif[:13], 400),
        # Corrupt data behind a valid signature.
        ("png-bad-crc", png[:40] + bytes([png[40] ^ 0xFF]) + png[41:], 400),
        ("png-garbage", b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(2000), 400),
        ("jpeg-garbage", b"\xff\xd8\xff\xe0" + secrets.token_bytes(2000), 400),
        ("gif-garbage", b"GIF89a" + secrets.token_bytes(2000), 400),
        ("webp-garbage", b"RIFF\x00\x10\x00\x00WEBPVP8 " + secrets.token_bytes(2000), 400),
        ("png-zero-size", png_declaring(0, 0), 400),
        # Decompression bombs: refused from the header, before any decoding.
        ("png-bomb-header", png_declaring(60000, 60000, zlib.compress(b"\x00" * 1000)), 413),
        ("png-bomb-complete", png_bomb(6000, 6000), 413),
        ("gif-bomb", gif_declaring(65535, 65535), 413),
        ("jpeg-bomb", jpeg_declaring(65000, 65000), 413),
    ]


@pytest.mark.parametrize("name,data,status", corpus(), ids=[c[0] for c in corpus()])
def test_malformed_image_fails_the_request(server, up, name, data, status):
    mxc = upload(up, data, "image/png")
    errcode = "M_TOO_LARGE" if status == 413 else "M_UNKNOWN"
    for method in ("crop", "scale"):
        thumbnail(up, mxc, 32, 32, method).expect(status, errcode)
    server.assert_alive()
    # The file itself is still served as uploaded.
    assert download(up, mxc).expect(200).raw.content == data


def test_large_image_within_limits(up):
    """A 5000 x 5000 (25 megapixel) image below max_image_pixels is thumbnailed."""
    mxc = upload(up, png_bomb(5000, 5000), "image/png")
    img = decoded(thumbnail(up, mxc, 96, 96, "crop"))
    assert img.size == (96, 96)


# ---- quarantine ------------------------------------------------------------------------------

def quarantine_path(mxc, undo=False):
    return "/_synapse/admin/v1/media/%s/%s" % ("unquarantine" if undo else "quarantine", server_and_id(mxc))


def test_quarantine(server, up):
    admin = make_admin(server)
    data = image_bytes(300, 300, "PNG")
    mxc = upload(up, data, "image/png")
    same = upload(up, data, "image/png")
    other = upload(up, image_bytes(300, 301, "PNG"), "image/png")
    thumbnail(up, mxc, 32, 32, "crop").expect(200)
    # Only admins.
    up.post(quarantine_path(mxc), {}).expect(403, "M_FORBIDDEN")
    admin.api().post(quarantine_path(mxc), {}).expect(200)
    for m in (mxc, same):  # the same content under another ID goes with it (as Synapse)
        download(up, m).expect(404, "M_NOT_FOUND")
        download(up, m, "x.png").expect(404, "M_NOT_FOUND")
        thumbnail(up, m, 32, 32, "crop").expect(404, "M_NOT_FOUND")
    download(up, other).expect(200)
    admin.api().post(quarantine_path(mxc, undo=True), {}).expect(200)
    assert download(up, same).expect(200).raw.content == data
    # Unknown and remote media.
    admin.api().post(quarantine_path("mxc://%s/AAAAAAAAAAAAAAAAAAAAAAAA" % SERVER_NAME), {}).expect(404, "M_NOT_FOUND")
    admin.api().post(quarantine_path("mxc://other.example/AAAA"), {}).expect(404, "M_NOT_FOUND")
    up.with_token(None).post(quarantine_path(mxc), {}).expect(401, "M_MISSING_TOKEN")


def test_quarantine_from_the_command_line(server, up):
    data = secrets.token_bytes(100)
    mxc = upload(up, data)
    r = run_cli("quarantine-media", "--config", server.config_path, mxc)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "quarantined " + mxc
    download(up, mxc).expect(404, "M_NOT_FOUND")
    r = run_cli("quarantine-media", "--config", server.config_path, "--undo", mxc)
    assert r.returncode == 0, r.stderr
    assert download(up, mxc).expect(200).raw.content == data
    for bad in ("mxc://other.example/AAAA", "https://example.org/x", "mxc://%s/a.b" % SERVER_NAME):
        r = run_cli("quarantine-media", "--config", server.config_path, bad)
        assert r.returncode == 1 and "not an mxc://" in r.stderr
    r = run_cli("quarantine-media", "--config", server.config_path, "mxc://%s/AAAAAAAAAAAAAAAAAAAAAAAA" % SERVER_NAME)
    assert r.returncode == 1 and "no such media" in r.stderr


# ---- URL previews ------------------------------------------------------------------------------

PIXEL = image_bytes(64, 48, "PNG", "RGB", (0, 128, 255))


class Pages:
    """A small HTTP server on a loopback address, in a thread, with fixed pages."""

    def __init__(self, host="127.0.0.1"):
        self.routes = {}
        self.hits = collections.Counter()
        pages = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                pages.hits[self.path] += 1
                status, headers, body = pages.routes.get(self.path, (404, {}, b"not here"))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.base = "http://%s:%d" % (host, self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path, body, ctype="text/html; charset=utf-8", status=200, **headers):
        headers["Content-Type"] = ctype
        self.routes[path] = (status, headers, body)
        return self.base + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


OG_PAGE = """<!DOCTYPE html><html><head>
<meta property="og:title" content="  A   page with OpenGraph ">
<meta property="og:description" content="Described by og:description">
<meta property="og:image" content="/img/pixel.png">
<meta property="og:type" content="article">
<meta property="og:title" content="second title is ignored">
<title>The HTML title is not used</title>
</head><body><h1>Heading</h1></body></html>"""

PLAIN_PAGE = """<html><head><title>
  Plain   title</title>
<meta name="Description" content="From the description meta tag">
</head><body><p>text</p></body></html>"""

LATIN1_PAGE = ("<html><head><meta charset='iso-8859-1'><title>Caf\xe9</title></head></html>"
               .encode("latin-1"))


@pytest.fixture(scope="module")
def pages():
    p = Pages()
    yield p
    p.close()


@pytest.fixture(scope="module")
def previewer(module_server_factory, pages):
    """Previews on, 127.0.0.1 whitelisted (the default blacklist holds 127.0.0.0/8),
    max_spider_size 64K."""
    srv = module_server_factory({"url_preview_enabled": True,
                                 "url_preview_ip_range_whitelist": ["127.0.0.1"],
                                 "max_spider_size": "64K"})
    return srv, srv.api("r0").register()


def preview(api, url, **params):
    params["url"] = url
    return api.get(media(api.prefix, "preview_url"), params=params)


def test_preview_opengraph(previewer, pages, prefix):
    srv, user = previewer
    api = user.api(prefix)
    pages.add("/img/pixel.png", PIXEL, "image/png")
    url = pages.add("/og-%s.html" % prefix, OG_PAGE.encode())
    og = preview(api, url, ts=1510610716656).expect(200).body
    assert og["og:title"] == "A page with OpenGraph"
    assert og["og:description"] == "Described by og:description"
    assert og["og:type"] == "article"
    assert og["og:image:type"] == "image/png"
    assert og["matrix:image:size"] == len(PIXEL)
    assert (og["og:image:width"], og["og:image:height"]) == (64, 48)
    assert MXC_RE.match(og["og:image"]), og
    # og:image was downloaded into the media store.
    assert download(api, og["og:image"]).expect(200).raw.content == PIXEL


def test_preview_fallbacks(previewer, pages):
    srv, user = previewer
    url = pages.add("/plain.html", PLAIN_PAGE.encode())
    og = preview(user.api(), url).expect(200).body
    assert og == {"og:title": "Plain title", "og:description": "From the description meta tag"}
    url = pages.add("/latin1.html", LATIN1_PAGE, "text/html")
    assert preview(user.api(), url).expect(200).body == {"og:title": "Café"}
    url = pages.add("/h1.html", b"<html><body><h1>Only a heading</h1></body></html>")
    assert preview(user.api(), url).expect(200).body == {"og:title": "Only a heading"}


def test_preview_of_an_image(previewer, pages):
    srv, user = previewer
    url = pages.add("/direct.png", PIXEL, "image/png")
    og = preview(user.api(), url).expect(200).body
    assert og["og:image:type"] == "image/png" and og["matrix:image:size"] == len(PIXEL)
    assert (og["og:image:width"], og["og:image:height"]) == (64, 48)
    assert download(user.api(), og["og:image"]).expect(200).raw.content == PIXEL


def test_preview_of_other_content_is_empty(previewer, pages):
    srv, user = previewer
    url = pages.add("/file.txt", b"plain text", "text/plain")
    assert preview(user.api(), url).expect(200).body == {}


def test_preview_follows_redirects(previewer, pages):
    srv, user = previewer
    target = pages.add("/moved-target.html", PLAIN_PAGE.encode())
    url = pages.add("/moved", b"", "text/plain", status=302, Location=target)
    assert preview(user.api(), url).expect(200).body["og:title"] == "Plain title"


def test_preview_drops_an_image_it_cannot_fetch(previewer, pages):
    srv, user = previewer
    page = OG_PAGE.replace("/img/pixel.png", "/img/missing.png")
    url = pages.add("/broken-image.html", page.encode())
    og = preview(user.api(), url).expect(200).body
    assert "og:image" not in og and og["og:title"] == "A page with OpenGraph"


def test_preview_is_cached(previewer, pages):
    srv, user = previewer
    url = pages.add("/cached.html", PLAIN_PAGE.encode())
    first = preview(user.api(), url).expect(200).body
    assert preview(user.api(), url).expect(200).body == first
    assert preview(user.api("v3"), url, ts=0).expect(200).body == first
    assert pages.hits["/cached.html"] == 1


def test_preview_errors(previewer, pages, prefix):
    srv, user = previewer
    api = user.api(prefix)
    api.get(media(prefix, "preview_url")).expect(400, "M_MISSING_PARAM")
    preview(api, "ftp://127.0.0.1/file").expect(400, "M_INVALID_PARAM")
    preview(api, "not a url").expect(400, "M_INVALID_PARAM")
    preview(api, pages.base + "/plain.html", ts="yesterday").expect(400, "M_INVALID_PARAM")
    preview(api, pages.base + "/nothing-here").expect(502, "M_UNKNOWN")
    url = pages.add("/huge.html", b"<html>" + b"x" * (65 * 1024) + b"</html>")
    preview(api, url).expect(502, "M_TOO_LARGE")
    preview(api.with_token(None), url).expect(401, "M_MISSING_TOKEN")


def test_preview_disabled_by_default(up, prefix):
    preview(up, "http://example.org/").expect(404, "M_UNRECOGNIZED")


def test_preview_blacklist(module_server_factory, pages):
    """Without a whitelist, loopback is in the default blacklist: by IP literal, by a name
    resolving there and as an IPv4-mapped IPv6 address; the page is never fetched."""
    srv = module_server_factory({"url_preview_enabled": True})
    api = srv.api("r0").register().api()
    pages.add("/secret.html", PLAIN_PAGE.encode())
    port = pages.httpd.server_address[1]
    for url in ("http://127.0.0.1:%d/secret.html" % port,
                "http://localhost:%d/secret.html" % port,
                "http://[::ffff:127.0.0.1]:%d/secret.html" % port,
                "http://[::1]:%d/secret.html" % port):
        preview(api, url).expect(403, "M_FORBIDDEN")
    assert pages.hits["/secret.html"] == 0


def test_preview_blacklist_applies_to_redirects(module_server_factory, pages):
    """A whitelisted host that redirects to a blacklisted address is refused at the second
    hop (127.0.0.2 is loopback too, not whitelisted)."""
    inner = Pages("127.0.0.2")
    try:
        inner.add("/internal.html", PLAIN_PAGE.encode())
        srv = module_server_factory({"url_preview_enabled": True,
                                     "url_preview_ip_range_whitelist": ["127.0.0.1/32"]})
        api = srv.api("r0").register().api()
        url = pages.add("/to-internal", b"", "text/plain", status=302,
                        Location=inner.base + "/internal.html")
        preview(api, url).expect(403, "M_FORBIDDEN")
        assert pages.hits["/to-internal"] == 1
        assert inner.hits["/internal.html"] == 0
        # An og:image on a blacklisted host is dropped, the rest of the preview stays.
        page = OG_PAGE.replace("/img/pixel.png", inner.base + "/internal.png")
        inner.add("/internal.png", PIXEL, "image/png")
        og = preview(api, pages.add("/image-inside.html", page.encode())).expect(200).body
        assert "og:image" not in og and og["og:title"] == "A page with OpenGraph"
        assert inner.hits["/internal.png"] == 0
    finally:
        inner.close()
