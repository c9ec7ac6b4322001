"""A matrix-nio client with its sync loop running (sync_forever, long-polling), recording what
the loop delivers; shared by the sync interop tests."""

import asyncio
import time

import nio


def _ok(resp, cls):
    assert isinstance(resp, cls), "expected %s, got %r" % (cls.__name__, resp)
    return resp


class Watcher:
    """One nio client with its sync loop running; records what the loop delivered."""

    def __init__(self, server, user, sync_filter=None):
        self.user = user
        self.sync_filter = sync_filter
        self.client = nio.AsyncClient(server.base_url, user.user_id,
                                      config=nio.AsyncClientConfig(encryption_enabled=False))
        self.events = []            # (room_id, event) from joined-room timelines and invites
        self.syncs = []             # every SyncResponse
        self.errors = []            # every error response of the loop
        self.task = None
        self.client.add_event_callback(self._on_event, nio.Event)
        self.client.add_event_callback(self._on_event, nio.InviteEvent)
        self.client.add_response_callback(self._on_sync, nio.SyncResponse)
        self.client.add_response_callback(self._on_error, nio.ErrorResponse)

    async def _on_event(self, room, event):
        self.events.append((room.room_id, event))

    async def _on_sync(self, resp):
        self.syncs.append(resp)

    async def _on_error(self, resp):
        self.errors.append(resp)

    async def start(self):
        _ok(await self.client.login(self.user.password, device_name="nio sync"), nio.LoginResponse)
        self.task = asyncio.ensure_future(self.client.sync_forever(timeout=3000, sync_filter=self.sync_filter))
        await self.wait(lambda: self.syncs, "first sync")

    async def stop(self):
        if self.task:
            self.task.cancel()
            try:
                await self.task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        await self.client.close()

    async def wait(self, pred, what, timeout=15):
        end = time.monotonic() + timeout
        while True:
            assert not self.errors, "%s: sync loop error: %r" % (self.user.user_id, self.errors)
            if self.task is not None and self.task.done():
                raise AssertionError("%s: sync loop ended: %r" % (self.user.user_id, self.task.exception()))
            v = pred()
            if v:
                return v
            if time.monotonic() > end:
                raise AssertionError("%s did not see %s via sync within %ss" % (self.user.user_id, what, timeout))
            await asyncio.sleep(0.02)

    def texts(self, room_id):
        return [(e.sender, e.body) for r, e in self.events
                if r == room_id and isinstance(e, nio.RoomMessageText)]

    def find(self, room_id, cls, cond=lambda e: True):
        return [e for r, e in self.events if r == room_id and isinstance(e, cls) and cond(e)]

    def left_room_events(self, room_id):
        out = []
        for s in self.syncs:
            info = s.rooms.leave.get(room_id)
            if info is not None:
                out.extend(info.timeline.events)
        return out
