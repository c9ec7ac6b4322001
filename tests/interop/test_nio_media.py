"""matrix-nio (python3-matrix-nio) and the content repository: alice uploads an image with nio
and sends it as an m.image message; bob, running his own nio sync loop, receives the message,
downloads the image and a thumbnail of it through nio; then the same for a plain file (m.file).
On both media prefixes (r0 and v3)."""

import asyncio
import io

import nio
import pytest
from PIL import Image

from niolib import Watcher, _ok


@pytest.fixture(params=["r0", "v3"])
def media_prefix(request, monkeypatch):
    """nio hard-codes /_matrix/media/r0; for v3, rewrite the paths it builds."""
    if request.param == "v3":
        original = nio.Api._build_path

        def build_path(path, query_parameters=None, base_path=nio.api.MATRIX_API_PATH):
            if base_path == "/_matrix/media/r0":
                base_path = "/_matrix/media/v3"
            return original(path, query_parameters, base_path)

        monkeypatch.setattr(nio.Api, "_build_path", staticmethod(build_path))
    return request.param


def _png(w, h):
    img = Image.new("RGB", (w, h), (30, 160, 90))
    for x in range(w // 2):  # a darker left half, so the thumbnail is not one flat colour
        for y in range(0, h, 7):
            img.putpixel((x, y), (10, 40, 20))
    b = io.BytesIO()
    img.save(b, "PNG")
    return b.getvalue()


async def _upload(client, data, content_type, filename):
    resp, keys = await client.upload(io.BytesIO(data), content_type=content_type,
                                     filename=filename, filesize=len(data))
    assert keys is None  # not encrypted
    return _ok(resp, nio.UploadResponse).content_uri


async def _media(server):
    api = server.api("r0")
    alice_u, bob_u = api.register(), api.register()
    alice, bob = Watcher(server, alice_u), Watcher(server, bob_u)
    try:
        await alice.start()
        await bob.start()
        A, B = alice.client, bob.client
        room_id = _ok(await A.room_create(name="nio media room"), nio.RoomCreateResponse).room_id
        _ok(await A.room_invite(room_id, bob_u.user_id), nio.RoomInviteResponse)
        await bob.wait(lambda: room_id in B.invited_rooms, "the invite")
        _ok(await B.join(room_id), nio.JoinResponse)
        await alice.wait(lambda: bob_u.user_id in A.rooms[room_id].users, "bob's join")

        image = _png(640, 480)
        url = await _upload(A, image, "image/png", "holiday photo.png")
        assert url.startswith("mxc://%s/" % server.server_name)
        _ok(await A.room_send(room_id, "m.room.message", {
            "msgtype": "m.image", "body": "holiday photo.png", "url": url,
            "info": {"mimetype": "image/png", "size": len(image), "w": 640, "h": 480}}),
            nio.RoomSendResponse)
        [event] = await bob.wait(lambda: bob.find(room_id, nio.RoomMessageImage), "the m.image")
        assert event.url == url and event.sender == alice_u.user_id

        dl = _ok(await B.download(mxc=event.url), nio.DownloadResponse)
        assert dl.body == image
        assert dl.content_type == "image/png"
        assert dl.filename == "holiday photo.png"

        server_name, media_id = event.url[len("mxc://"):].split("/", 1)
        for method, want in ((nio.ResizingMethod.crop, (96, 96)), (nio.ResizingMethod.scale, (320, 240))):
            th = _ok(await B.thumbnail(server_name, media_id, 80, 80, method), nio.ThumbnailResponse)
            assert th.content_type == "image/jpeg"
            img = Image.open(io.BytesIO(th.body))
            assert img.format == "JPEG" and img.size == want

        # A file that is not an image: downloads as it was, with its name.
        doc = b"%PDF-1.4\n% a tiny document\n"
        url = await _upload(A, doc, "application/pdf", "minutes.pdf")
        _ok(await A.room_send(room_id, "m.room.message", {
            "msgtype": "m.file", "body": "minutes.pdf", "url": url,
            "info": {"mimetype": "application/pdf", "size": len(doc)}}), nio.RoomSendResponse)
        [event] = await bob.wait(lambda: bob.find(room_id, nio.RoomMessageFile), "the m.file")
        dl = _ok(await B.download(mxc=event.url, filename="renamed.pdf"), nio.DownloadResponse)
        assert (dl.body, dl.content_type, dl.filename) == (doc, "application/pdf", "renamed.pdf")
        th = await B.thumbnail(server_name, event.url.rsplit("/", 1)[1], 32, 32)
        assert isinstance(th, nio.ThumbnailError)  # no thumbnails of a PDF
    finally:
        await alice.stop()
        await bob.stop()


def test_nio_media(server, media_prefix):
    asyncio.run(_media(server))
