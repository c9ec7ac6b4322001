"""End-to-end encryption through Hearth with real clients: matrix-nio with python3-olm
(Olm for the to-device key exchange, Megolm m.megolm.v1.aes-sha2 for the room).

Two users hold an encrypted conversation both ways; one logs in a new device, which the other
learns of through device_lists and /keys/query, and the conversation goes on with all three
devices decrypting; the server is restarted mid-conversation and it still goes on. The server
only ever stores m.room.encrypted events (checked). Every wait is bounded; a message that
arrives undecryptable fails the test.

Then matrix-js-sdk with its Rust crypto (@matrix-org/matrix-sdk-crypto-wasm from npm, in
memory; tests/interop/js/e2e_bot.mjs) decrypts a message nio sent, and nio decrypts its answer.
Needs node and `npm ci --prefix tests/interop/js` (a failure, not a skip, without them)."""

import asyncio
import os
import shutil
import subprocess
import threading
import time

import nio
import pytest

import harness
from harness import HearthServer, quote

WAIT = 45  # seconds for any one thing to show up


def _ok(resp, cls):
    assert isinstance(resp, cls), "expected %s, got %r" % (cls.__name__, resp)
    return resp


class Device:
    """One logged-in nio client with encryption on, its own store and its sync loop running."""

    def __init__(self, server, user, store_dir, name):
        self.user = user
        self.name = name
        store_dir.mkdir(parents=True, exist_ok=True)
        cfg = nio.AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True,
                                    max_timeout_retry_wait_time=2)
        self.client = nio.AsyncClient(server.base_url, user.user_id, store_path=str(store_dir),
                                      config=cfg)
        self.plain = []        # (room_id, sender, body) of decrypted messages
        self.undecrypted = []  # (room_id, MegolmEvent)
        self.errors = []
        self.task = None
        self.client.add_event_callback(self._on_text, nio.RoomMessageText)
        self.client.add_event_callback(self._on_megolm, nio.MegolmEvent)
        self.client.add_response_callback(self._on_error, nio.ErrorResponse)

    async def _on_text(self, room, event):
        if event.decrypted:
            self.plain.append((room.room_id, event.sender, event.body))

    async def _on_megolm(self, room, event):
        self.undecrypted.append((room.room_id, event))

    async def _on_error(self, resp):
        self.errors.append(resp)

    @property
    def device_id(self):
        return self.client.device_id

    async def start(self):
        _ok(await self.client.login(self.user.password, device_name=self.name), nio.LoginResponse)
        self.synced = asyncio.Event()

        async def first(_resp):
            self.synced.set()

        self.client.add_response_callback(first, nio.SyncResponse)
        self.task = asyncio.ensure_future(self.client.sync_forever(timeout=3000, full_state=True,
                                                                   set_presence="offline"))
        await asyncio.wait_for(self.synced.wait(), WAIT)
        # The loop uploads the device's keys after its first sync.
        await self.wait(lambda: not self.client.should_upload_keys, "keys uploaded")

    async def stop(self):
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        await self.client.close()

    async def wait(self, pred, what, timeout=WAIT):
        end = time.monotonic() + timeout
        while True:
            assert not self.errors, "%s: error responses: %r" % (self.name, self.errors)
            if self.task is not None and self.task.done():
                raise AssertionError("%s: sync loop ended: %r" % (self.name, self.task.exception()))
            if pred():
                return
            if time.monotonic() > end:
                raise AssertionError("%s: no %s within %ss (undecrypted: %r)"
                                     % (self.name, what, timeout, self.undecrypted))
            await asyncio.sleep(0.05)

    async def wait_text(self, room_id, sender, body):
        await self.wait(lambda: (room_id, sender, body) in self.plain, "decrypted %r" % body)

    def knows_device(self, user_id, device_id):
        return any(d.id == device_id for d in self.client.device_store.active_user_devices(user_id))

    async def send(self, room_id, body):
        r = await self.client.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body},
                                        ignore_unverified_devices=True)
        return _ok(r, nio.RoomSendResponse).event_id


@pytest.fixture
def e2e_server(tmp_path):
    # A server of its own: this test restarts it.
    srv = HearthServer(tmp_path / "server")
    srv.start()
    yield srv
    srv.stop()


def _stored_event(server, user, room_id, event_id):
    r = server.api("r0", user.access_token).get("/rooms/%s/event/%s" % (quote(room_id), quote(event_id)))
    return r.expect(200).body


def test_nio_encrypted_conversation_across_devices_and_restart(e2e_server, tmp_path):
    srv = e2e_server
    api = srv.api("r0")
    alice = api.register(password="alice-pw-" + harness.unique_localpart())
    bob = api.register(password="bob-pw-" + harness.unique_localpart())

    async def scenario():
        a = Device(srv, alice, tmp_path / "a", "alice nio")
        b = Device(srv, bob, tmp_path / "b", "bob nio")
        b2 = None
        try:
            await a.start()
            await b.start()
            r = _ok(await a.client.room_create(
                invite=[bob.user_id], preset=nio.RoomPreset.private_chat,
                initial_state=[{"type": "m.room.encryption", "state_key": "",
                                "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]),
                nio.RoomCreateResponse)
            room = r.room_id
            await b.wait(lambda: room in b.client.invited_rooms, "the invite")
            _ok(await b.client.join(room), nio.JoinResponse)
            for d in (a, b):
                await d.wait(lambda d=d: room in d.client.rooms and d.client.rooms[room].encrypted
                             and bob.user_id in d.client.rooms[room].users
                             and alice.user_id in d.client.rooms[room].users, "the encrypted room")

            # Both ways.
            eid = await a.send(room, "hello bob")
            await b.wait_text(room, alice.user_id, "hello bob")
            stored = _stored_event(srv, alice, room, eid)
            assert stored["type"] == "m.room.encrypted"
            assert stored["content"]["algorithm"] == "m.megolm.v1.aes-sha2"
            assert "hello bob" not in str(stored)
            await b.send(room, "hello alice")
            await a.wait_text(room, bob.user_id, "hello alice")

            # Bob logs in a new device: Alice learns of it through device_lists.changed and
            # /keys/query, and shares her next session with it too.
            b2 = Device(srv, bob, tmp_path / "b2", "bob second nio")
            await b2.start()
            await a.wait(lambda: a.knows_device(bob.user_id, b2.device_id), "Bob's new device")
            await b.wait(lambda: b.knows_device(bob.user_id, b2.device_id), "own new device")
            await b2.wait(lambda: room in b2.client.rooms and b2.client.rooms[room].encrypted,
                          "the room on the new device")
            await a.send(room, "hello both of you")
            await b.wait_text(room, alice.user_id, "hello both of you")
            await b2.wait_text(room, alice.user_id, "hello both of you")
            await b2.send(room, "from bob's new device")
            await a.wait_text(room, bob.user_id, "from bob's new device")
            await b.wait_text(room, bob.user_id, "from bob's new device")
            await b.send(room, "from bob's first device")
            await a.wait_text(room, bob.user_id, "from bob's first device")
            await b2.wait_text(room, bob.user_id, "from bob's first device")

            # The server restarts under running clients; everything is where it was.
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, srv.stop)
            await loop.run_in_executor(None, srv.start)
            await a.send(room, "after the restart")
            await b.wait_text(room, alice.user_id, "after the restart")
            await b2.wait_text(room, alice.user_id, "after the restart")
            await b2.send(room, "still here")
            await a.wait_text(room, bob.user_id, "still here")
            await b.wait_text(room, bob.user_id, "still here")

            # A device logged in after the restart joins the conversation too.
            a2 = Device(srv, alice, tmp_path / "a2", "alice second nio")
            try:
                await a2.start()
                await b.wait(lambda: b.knows_device(alice.user_id, a2.device_id), "Alice's new device")
                await b.send(room, "welcome, new alice")
                await a.wait_text(room, bob.user_id, "welcome, new alice")
                await a2.wait_text(room, bob.user_id, "welcome, new alice")
                await a2.send(room, "thanks")
                for d in (a, b, b2):
                    await d.wait_text(room, alice.user_id, "thanks")
            finally:
                await a2.stop()

            # Nothing sent while a device existed arrived undecryptable to it. (A device's
            # initial sync may show older history it never had keys for; none here is newer.)
            for d in (a, b):
                assert not d.undecrypted, "%s could not decrypt: %r" % (d.name, d.undecrypted)
        finally:
            for d in (a, b, b2):
                if d is not None:
                    await d.stop()

    asyncio.run(scenario())


# ---- matrix-js-sdk (Rust crypto) <-> matrix-nio ----

JS_DIR = os.path.join(harness.REPO, "tests", "interop", "js")
INSTALL = "npm ci --prefix tests/interop/js"


def _node():
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("node is not installed (Debian: apt-get install nodejs npm), then run: " + INSTALL,
                    pytrace=False)
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "@matrix-org", "matrix-sdk-crypto-wasm")):
        pytest.fail("matrix-js-sdk's crypto is not installed under tests/interop/js/node_modules; run: "
                    + INSTALL, pytrace=False)
    return node


class JsBot:
    """tests/interop/js/e2e_bot.mjs for one user and device; collects its output lines."""

    def __init__(self, server, user):
        env = dict(os.environ, HEARTH_BASE_URL=server.base_url, BOT_USER_ID=user.user_id,
                   BOT_ACCESS_TOKEN=user.access_token, BOT_DEVICE_ID=user.device_id, NODE_NO_WARNINGS="1")
        self.proc = subprocess.Popen([_node(), os.path.join(JS_DIR, "e2e_bot.mjs")], cwd=JS_DIR, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.err = []
        for stream, out in ((self.proc.stdout, self.lines), (self.proc.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, out), daemon=True).start()

    @staticmethod
    def _read(stream, out):
        for line in stream:
            out.append(line.rstrip("\n"))

    def output(self):
        tagged = [line for line in self.lines if line.split(" ", 1)[0] in ("READY", "DECRYPTED", "UNDECRYPTABLE")]
        return "tagged stdout:\n%s\nstderr:\n%s\nstdout tail:\n%s" % (
            "\n".join(tagged), "\n".join(self.err[-40:]), "\n".join(self.lines[-60:]))

    async def wait_line(self, line, timeout=WAIT):
        end = time.monotonic() + timeout
        while True:
            found = [x for x in self.lines if x == line or (line.endswith(" ") and x.startswith(line))]
            if found:
                return found[0]
            bad = [x for x in self.lines if x.startswith("UNDECRYPTABLE")]
            if bad:
                raise AssertionError("js could not decrypt: %r\n%s" % (bad, self.output()))
            if self.proc.poll() is not None:
                raise AssertionError("e2e_bot exited (%s) before %r\n%s" % (self.proc.returncode, line, self.output()))
            if time.monotonic() > end:
                raise AssertionError("e2e_bot did not print %r within %ss\n%s" % (line, timeout, self.output()))
            await asyncio.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def test_js_sdk_rust_crypto_and_nio(e2e_server, tmp_path):
    srv = e2e_server
    api = srv.api("r0")
    alice = api.register(password="alice-pw-" + harness.unique_localpart())
    carol = api.register()

    async def scenario():
        bot = JsBot(srv, carol)
        a = Device(srv, alice, tmp_path / "a", "alice nio")
        try:
            ready = await bot.wait_line("READY ")
            await a.start()
            r = _ok(await a.client.room_create(
                invite=[carol.user_id], preset=nio.RoomPreset.private_chat,
                initial_state=[{"type": "m.room.encryption", "state_key": "",
                                "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]),
                nio.RoomCreateResponse)
            room = r.room_id
            # The bot joins on the invite; nio learns of its device from device_lists.
            await a.wait(lambda: room in a.client.rooms and carol.user_id in a.client.rooms[room].users
                         and not a.client.rooms[room].users[carol.user_id].invited, "carol's join")
            await a.wait(lambda: a.knows_device(carol.user_id, carol.device_id), "carol's device")
            dev = [d for d in a.client.device_store.active_user_devices(carol.user_id)
                   if d.id == carol.device_id][0]
            assert dev.ed25519 == ready.split(" ", 1)[1], "the keys nio got are not the js device's"
            await a.send(room, "ping from nio")
            await bot.wait_line("DECRYPTED %s ping from nio" % alice.user_id)
            # The SDK's encrypted answer, decrypted by nio.
            await a.wait_text(room, carol.user_id, "pong ping from nio")
            await a.send(room, "ping again")
            await bot.wait_line("DECRYPTED %s ping again" % alice.user_id)
            await a.wait_text(room, carol.user_id, "pong ping again")
            assert not a.undecrypted, a.undecrypted
        finally:
            bot.stop()
            await a.stop()

    asyncio.run(scenario())
