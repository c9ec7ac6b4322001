"""Two different client libraries talking to each other through Hearth: alice is matrix-nio
(Python), bob is matrix-js-sdk (node, tests/interop/js/bot.mjs). Both run their library's normal
sync loop; bob only acts on what his loop delivers (invite -> join, "ping" -> "pong", commands
to change the topic, report what he knows, redact, leave), and alice checks his answers through
hers. Needs node and `npm ci --prefix tests/interop/js` (a failure, not a skip, without them)."""

import asyncio
import os
import shutil
import subprocess
import threading
import time

import nio
import pytest

import harness
from niolib import Watcher, _ok

JS_DIR = os.path.join(harness.REPO, "tests", "interop", "js")
INSTALL = "npm ci --prefix tests/interop/js"


def _node():
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.fail("node is not installed (Debian: apt-get install nodejs npm), then run: " + INSTALL,
                    pytrace=False)
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "matrix-js-sdk")):
        pytest.fail("matrix-js-sdk is not installed under tests/interop/js/node_modules; run: " + INSTALL,
                    pytrace=False)
    return node


class Bot:
    def __init__(self, server, user):
        env = dict(os.environ, HEARTH_BASE_URL=server.base_url, BOT_USER_ID=user.user_id,
                   BOT_ACCESS_TOKEN=user.access_token, BOT_DEVICE_ID=user.device_id, NODE_NO_WARNINGS="1")
        self.proc = subprocess.Popen([_node(), os.path.join(JS_DIR, "bot.mjs")], cwd=JS_DIR, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.err = []
        self._t1 = threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True)
        self._t2 = threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True)
        self._t1.start()
        self._t2.start()

    @staticmethod
    def _read(stream, out):
        for line in stream:
            out.append(line.rstrip("\n"))

    def output(self):
        return "stdout:\n%s\nstderr:\n%s" % ("\n".join(self.lines), "\n".join(self.err[-80:]))

    async def wait_line(self, prefix, timeout=20):
        end = time.monotonic() + timeout
        while not any(line.startswith(prefix) for line in self.lines):
            if self.proc.poll() is not None and not any(line.startswith(prefix) for line in self.lines):
                raise AssertionError("bot exited (%s) before %r\n%s" % (self.proc.returncode, prefix, self.output()))
            if time.monotonic() > end:
                raise AssertionError("bot did not print %r within %ss\n%s" % (prefix, timeout, self.output()))
            await asyncio.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


async def _talk(server, bot_user, alice_u):
    bot = Bot(server, bot_user)
    alice = Watcher(server, alice_u)
    B = bot_user.user_id
    try:
        await bot.wait_line("READY")
        await alice.start()
        A = alice.client

        async def see(pred, what):
            try:
                return await alice.wait(pred, what)
            except AssertionError as e:
                raise AssertionError("%s\n%s" % (e, bot.output())) from None

        def bot_says(room_id):
            return [b for s, b in alice.texts(room_id) if s == B]

        async def ask(room_id, text, answer_pred, what):
            """Sends text; returns the bot's next answer matching answer_pred."""
            before = len([b for b in bot_says(room_id) if answer_pred(b)])
            _ok(await A.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": text}),
                nio.RoomSendResponse)
            await see(lambda: len([b for b in bot_says(room_id) if answer_pred(b)]) > before, what)
            return [b for b in bot_says(room_id) if answer_pred(b)][before]

        room_id = _ok(await A.room_create(name="nio x js", topic="start",
                                          power_level_override={"users": {alice_u.user_id: 100, B: 50}}),
                      nio.RoomCreateResponse).room_id
        _ok(await A.room_invite(room_id, B), nio.RoomInviteResponse)
        await see(lambda: room_id in A.rooms and B in A.rooms[room_id].users
                  and B not in A.rooms[room_id].invited_users, "the js client's join")

        for i in range(20):
            await ask(room_id, "ping %d" % i, lambda b, i=i: b == "pong ping %d" % i, "pong %d" % i)
        pongs = [b for b in bot_says(room_id) if b.startswith("pong")]
        assert pongs == ["pong ping %d" % i for i in range(20)], pongs

        # Bob changes the topic; alice's loop shows it.
        _ok(await A.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "!topic set by js"}),
            nio.RoomSendResponse)
        await see(lambda: A.rooms[room_id].topic == "set by js", "the topic set by the js client")
        # Alice changes it; bob's loop shows it.
        _ok(await A.room_put_state(room_id, "m.room.topic", {"topic": "set by nio"}), nio.RoomPutStateResponse)
        await ask(room_id, "!whats-topic", lambda b: b == "topic: set by nio", "the js client's view of the topic")

        # A third user comes and goes; both clients agree on the members, and with the server.
        carol = server.api("r0").register()
        _ok(await A.room_invite(room_id, carol.user_id), nio.RoomInviteResponse)
        carol.api().post("/rooms/%s/join" % harness.quote(room_id), {}).expect(200)
        carol.api().put("/rooms/%s/send/m.room.message/c1" % harness.quote(room_id),
                        {"msgtype": "m.text", "body": "hi from carol"}).expect(200)
        await see(lambda: (carol.user_id, "hi from carol") in alice.texts(room_id), "carol's message")
        three = ",".join(sorted([alice_u.user_id, B, carol.user_id]))
        await ask(room_id, "!members", lambda b: b == "members: " + three, "the js client's member list")
        assert sorted(u for u in A.rooms[room_id].users if u not in A.rooms[room_id].invited_users) == three.split(",")
        carol.api().post("/rooms/%s/leave" % harness.quote(room_id), {}).expect(200)
        await see(lambda: carol.user_id not in A.rooms[room_id].users, "carol's leave")
        two = ",".join(sorted([alice_u.user_id, B]))
        await ask(room_id, "!members", lambda b: b == "members: " + two, "the js client's member list after")
        server_view = alice_u.api().get("/rooms/%s/joined_members" % harness.quote(room_id)).expect(200).body["joined"]
        assert sorted(server_view) == two.split(",")

        # Alice renames the room; the js client follows.
        _ok(await A.room_put_state(room_id, "m.room.name", {"name": "renamed"}), nio.RoomPutStateResponse)
        await ask(room_id, "!whats-name", lambda b: b == "name: renamed", "the js client's view of the name")

        # Alice redacts her message; bob's client applies the redaction it got through sync.
        mine = _ok(await A.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "oops"}),
                   nio.RoomSendResponse).event_id
        await ask(room_id, "!is-redacted " + mine, lambda b: b == "redacted %s: false" % mine, "the message")
        _ok(await A.room_redact(room_id, mine), nio.RoomRedactResponse)
        # The redaction precedes the question in the room, so the js client has it by then.
        got = await ask(room_id, "!is-redacted " + mine, lambda b: b.startswith("redacted %s:" % mine),
                        "a redaction report")
        assert got == "redacted %s: true" % mine, got

        # Bob redacts his last pong; alice's loop delivers the redaction.
        _ok(await A.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "!redact-last"}),
            nio.RoomSendResponse)
        await see(lambda: alice.find(room_id, nio.RedactionEvent, lambda e: e.sender == B), "bob's redaction")

        # Bob leaves.
        _ok(await A.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "!leave"}),
            nio.RoomSendResponse)
        await see(lambda: B not in A.rooms[room_id].users, "the js client's leave")
        await bot.wait_line("DONE")
        assert bot.proc.wait(10) == 0, bot.output()
        assert not [line for line in bot.err if "sync error" in line], bot.output()
    finally:
        bot.stop()
        await alice.stop()


def test_nio_and_js_sdk_talk(server):
    api = server.api("r0")
    bot_user, alice_u = api.register(), api.register()
    asyncio.run(_talk(server, bot_user, alice_u))
