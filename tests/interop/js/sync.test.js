// matrix-js-sdk against Hearth: two clients run their normal sync loop (startClient) while
// their users hold a conversation: create, invite, join, messages both ways, a topic change, a
// redaction, a leave. Each client learns about the other only through /sync.
//
// Run by tests/interop/test_js_sdk.py, which starts the server and sets HEARTH_BASE_URL:
//   HEARTH_BASE_URL=http://127.0.0.1:8008 node --test tests/interop/js/
import { test, after } from "node:test";
import assert from "node:assert/strict";

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

import { fetchWithShims, shimmed } from "./shims.mjs";

logger.setLevel("warn", false);

const BASE = process.env.HEARTH_BASE_URL;
const WAIT_MS = 15000;

async function api(method, path, body, token) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const res = await fetch(BASE + "/_matrix/client/v3" + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
}

async function register(prefix) {
    const username = prefix + Math.random().toString(16).slice(2, 10);
    const password = "pw-" + Math.random().toString(16).slice(2);
    let r = await api("POST", "/register", { username, password });
    assert.equal(r.status, 401, JSON.stringify(r.body));
    r = await api("POST", "/register", {
        username,
        password,
        auth: { type: "m.login.dummy", session: r.body.session },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body; // user_id, access_token, device_id
}

const clients = [];

async function startClient(account, lazyLoadMembers = false) {
    const client = sdk.createClient({
        baseUrl: BASE,
        userId: account.user_id,
        accessToken: account.access_token,
        deviceId: account.device_id,
        fetchFn: fetchWithShims,
    });
    clients.push(client);
    const errors = [];
    client.on(sdk.ClientEvent.Sync, (state, _prev, data) => {
        if (state === "ERROR") errors.push(data && data.error ? String(data.error) : "sync error");
    });
    const prepared = new Promise((resolve, reject) => {
        const timer = setTimeout(
            () => reject(new Error("no PREPARED sync within " + WAIT_MS + " ms; errors: " + errors.join("; "))),
            WAIT_MS,
        );
        client.on(sdk.ClientEvent.Sync, (state) => {
            if (state === "PREPARED") {
                clearTimeout(timer);
                resolve();
            }
        });
    });
    await client.startClient({ initialSyncLimit: 20, pollTimeout: 3000, lazyLoadMembers });
    await prepared;
    client.syncErrors = errors;
    return client;
}

async function waitFor(client, pred, what, show) {
    const end = Date.now() + WAIT_MS;
    for (;;) {
        let v;
        try {
            v = pred();
        } catch {
            v = false;
        }
        if (v) return v;
        if (Date.now() > end) {
            throw new Error(
                client.getUserId() + " did not see " + what + " within " + WAIT_MS + " ms" +
                    (client.syncErrors.length ? "; sync errors: " + client.syncErrors.join("; ") : "") +
                    (show ? "; state: " + JSON.stringify(show()) : ""),
            );
        }
        await new Promise((r) => setTimeout(r, 20));
    }
}

// Confirmed (remote-echoed) text messages of a room's live timeline: [sender, body].
function texts(client, roomId) {
    const room = client.getRoom(roomId);
    if (!room) return [];
    return room
        .getLiveTimeline()
        .getEvents()
        .filter((e) => e.getType() === "m.room.message" && !e.isRedacted() && e.getId().startsWith("$") && !e.status)
        .map((e) => [e.getSender(), e.getContent().body]);
}

function timelineDump(client, roomId) {
    const room = client.getRoom(roomId);
    if (!room) return null;
    return room
        .getLiveTimeline()
        .getEvents()
        .map((e) => [e.getId(), e.getType(), e.getSender(), e.status, e.getContent().body]);
}

function sameList(a, b) {
    return JSON.stringify(a) === JSON.stringify(b);
}

after(() => {
    for (const c of clients) c.stopClient();
});

test("two matrix-js-sdk clients hold a conversation through /sync", async () => {
    assert.ok(BASE, "HEARTH_BASE_URL is not set (run through tests/interop/test_js_sdk.py)");
    const aliceAcc = await register("jsa");
    const bobAcc = await register("jsb");
    const alice = await startClient(aliceAcc);
    // Bob's client lazy-loads members, as Element does.
    const bob = await startClient(bobAcc, true);
    const A = aliceAcc.user_id;
    const B = bobAcc.user_id;

    const { room_id: roomId } = await alice.createRoom({
        name: "js sync room",
        topic: "first topic",
        preset: "private_chat",
    });
    await waitFor(alice, () => alice.getRoom(roomId)?.getMyMembership() === "join", "her new room");

    // The invite arrives with its stripped state.
    await alice.invite(roomId, B);
    await waitFor(bob, () => bob.getRoom(roomId)?.getMyMembership() === "invite", "the invite");
    await waitFor(bob, () => bob.getRoom(roomId).name === "js sync room", "the room name from invite_state");
    assert.equal(bob.getRoom(roomId).getMember(B).events.member.getSender(), A);

    await bob.joinRoom(roomId);
    await waitFor(bob, () => bob.getRoom(roomId)?.getMyMembership() === "join", "his join");
    await waitFor(alice, () => alice.getRoom(roomId).getMember(B)?.membership === "join", "bob's join");
    await waitFor(
        bob,
        () => bob.getRoom(roomId).currentState.getStateEvents("m.room.topic", "")?.getContent().topic === "first topic",
        "the topic",
    );

    // Messages both ways, as people talk: each one answers after reading the previous message
    // (a reply sent before the other's message arrived would sit before it in the sender's own
    // timeline, as a local echo).
    const expected = [];
    for (let i = 0; i < 12; i++) {
        const [who, client] = i % 2 === 0 ? [A, alice] : [B, bob];
        await waitFor(client, () => sameList(texts(client, roomId), expected), "messages before " + i,
            () => [texts(client, roomId), timelineDump(client, roomId)]);
        const body = "js message " + i;
        await client.sendMessage(roomId, { msgtype: "m.text", body });
        expected.push([who, body]);
    }
    await waitFor(alice, () => sameList(texts(alice, roomId), expected), "the whole conversation");
    await waitFor(bob, () => sameList(texts(bob, roomId), expected), "the whole conversation");

    // Push rules come from the server (m.push_rules of the initial sync, no stand-in), and the
    // unread counts of /sync reach the SDK: alice mentioning bob is a highlight for him.
    assert.ok(![...shimmed].some((s) => s.includes("/pushrules")), "push rules were shimmed");
    for (const [c, user] of [[alice, A], [bob, B]]) {
        const content = c.pushRules?.global?.content ?? [];
        const own = content.find((r) => r.rule_id === ".m.rule.contains_user_name");
        assert.equal(own?.pattern, user.slice(1).split(":")[0], user + "'s push rules");
        assert.ok(c.pushRules.global.underride.some((r) => r.rule_id === ".m.rule.message" && r.default));
    }
    const mention = "over to you, " + B.slice(1).split(":")[0];
    await alice.sendMessage(roomId, { msgtype: "m.text", body: mention });
    expected.push([A, mention]);
    await waitFor(bob, () => bob.getRoom(roomId).getUnreadNotificationCount("highlight") === 1, "the highlight count",
        () => [bob.getRoom(roomId).getUnreadNotificationCount("total"), bob.getRoom(roomId).getUnreadNotificationCount("highlight")]);
    // His own last message marked everything before it read: the mention is all there is.
    assert.equal(bob.getRoom(roomId).getUnreadNotificationCount("total"), 1);
    await waitFor(alice, () => sameList(texts(alice, roomId), expected), "her mention");
    await waitFor(bob, () => sameList(texts(bob, roomId), expected), "the mention");

    // A topic change.
    await alice.setRoomTopic(roomId, "second topic");
    await waitFor(
        bob,
        () => bob.getRoom(roomId).currentState.getStateEvents("m.room.topic", "")?.getContent().topic === "second topic",
        "the new topic",
    );

    // A redaction of one of bob's messages, seen by alice's client.
    const victim = bob
        .getRoom(roomId)
        .getLiveTimeline()
        .getEvents()
        .find((e) => e.getType() === "m.room.message" && e.getSender() === B && e.getId().startsWith("$"));
    assert.ok(victim, "bob's client has his own message");
    const victimBody = victim.getContent().body;
    await bob.redactEvent(roomId, victim.getId(), undefined, { reason: "typo" });
    await waitFor(alice, () => alice.getRoom(roomId).findEventById(victim.getId())?.isRedacted(), "the redaction");
    assert.deepEqual(alice.getRoom(roomId).findEventById(victim.getId()).getContent(), {});
    const remaining = expected.filter(([who, body]) => !(who === B && body === victimBody));
    await waitFor(bob, () => sameList(texts(bob, roomId), remaining), "his message redacted");

    // Bob leaves: alice's client sees it, bob's client moves the room to "leave".
    await bob.leave(roomId);
    await waitFor(alice, () => alice.getRoom(roomId).getMember(B)?.membership === "leave", "bob's leave");
    await waitFor(bob, () => bob.getRoom(roomId)?.getMyMembership() === "leave", "his own leave");

    // Afterwards bob's client hears nothing more from the room.
    const before = texts(bob, roomId).length;
    await alice.sendMessage(roomId, { msgtype: "m.text", body: "bob is gone" });
    await waitFor(alice, () => texts(alice, roomId).some(([, b]) => b === "bob is gone"), "her last message");
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(texts(bob, roomId).length, before);

    for (const c of [alice, bob]) {
        assert.deepEqual(c.syncErrors, [], c.getUserId() + " had sync errors");
        const ids = c.getRoom(roomId).getLiveTimeline().getEvents().map((e) => e.getId());
        assert.equal(ids.length, new Set(ids).size, "duplicate events in " + c.getUserId() + "'s timeline");
    }
    if (shimmed.size) console.log("shimmed (not yet implemented by the server): " + [...shimmed].join(", "));
});
