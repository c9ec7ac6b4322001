// matrix-js-sdk's search against Hearth: searchRoomEvents (what Element's search box calls:
// order_by recent, one event of context each side with profiles) and
// backPaginateRoomEventsSearch through every page.
//
// Run by tests/interop/test_js_sdk.py (node --test tests/interop/js/), HEARTH_BASE_URL set.
import { test } from "node:test";
import assert from "node:assert/strict";

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

import { fetchWithShims } from "./shims.mjs";

logger.setLevel("warn", false);

const BASE = process.env.HEARTH_BASE_URL;

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
    return r.body;
}

let txn = 0;
async function say(account, roomId, body) {
    const r = await api(
        "PUT",
        `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/js${Date.now()}-${txn++}`,
        { msgtype: "m.text", body },
        account.access_token,
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body.event_id;
}

test("matrix-js-sdk finds messages with searchRoomEvents and pages through them", async () => {
    const alice = await register("jsa");
    const bob = await register("jsb");
    let r = await api("POST", "/createRoom", { preset: "public_chat", name: "search room" }, alice.access_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const roomId = r.body.room_id;
    r = await api("POST", `/rooms/${encodeURIComponent(roomId)}/join`, {}, bob.access_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));

    const word = "kw" + Math.random().toString(16).slice(2, 10);
    const sent = [];
    for (let i = 0; i < 25; i++) {
        const who = i % 2 ? bob : alice;
        await say(who, roomId, `plain ${i}`);
        sent.push(await say(who, roomId, `message ${i} about ${word} at the Café`));
    }

    const client = sdk.createClient({
        baseUrl: BASE,
        userId: alice.user_id,
        accessToken: alice.access_token,
        deviceId: alice.device_id,
        fetchFn: fetchWithShims,
    });
    const results = await client.searchRoomEvents({ term: word, filter: { rooms: [roomId] } });
    assert.equal(results.count, 25);
    assert.ok(results.highlights.includes(word), JSON.stringify(results.highlights));
    assert.ok(results.next_batch, "first page should have a next_batch");
    let pages = 1;
    while (results.next_batch) {
        await client.backPaginateRoomEventsSearch(results);
        pages++;
        assert.ok(pages < 10, "pagination did not end");
    }
    const ids = results.results.map((sr) => sr.context.getEvent().getId());
    // Newest first (order_by recent), every message once.
    assert.deepEqual(ids, [...sent].reverse());
    for (const sr of results.results) {
        const ev = sr.context.getEvent();
        assert.equal(ev.getRoomId(), roomId);
        assert.ok(ev.getContent().body.includes(word));
        // One event of context each side: the "plain" messages around it.
        const timeline = sr.context.getTimeline();
        assert.ok(timeline.length >= 2, "context missing");
        assert.equal(typeof sr.rank, "number");
    }

    // Accents and case fold: "cafe" finds "Café", and the highlight is the word as written.
    const cafe = await client.searchRoomEvents({ term: "CAFE " + word, filter: { rooms: [roomId] } });
    assert.equal(cafe.count, 25);
    assert.ok(cafe.highlights.includes("Café"), JSON.stringify(cafe.highlights));

    // Bob leaves; what is said afterwards is not his to find.
    r = await api("POST", `/rooms/${encodeURIComponent(roomId)}/leave`, {}, bob.access_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const late = await say(alice, roomId, `late ${word}`);
    const bobClient = sdk.createClient({
        baseUrl: BASE,
        userId: bob.user_id,
        accessToken: bob.access_token,
        deviceId: bob.device_id,
        fetchFn: fetchWithShims,
    });
    const bobResults = await bobClient.searchRoomEvents({ term: word });
    assert.equal(bobResults.count, 25);
    const aliceAll = await client.searchRoomEvents({ term: "late " + word });
    assert.deepEqual(
        aliceAll.results.map((sr) => sr.context.getEvent().getId()),
        [late],
    );
    client.stopClient();
    bobClient.stopClient();
});
