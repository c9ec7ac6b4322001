// A bridge written with matrix-appservice-bridge (npm), unchanged, against Hearth: it receives
// transactions, creates ghost users through intents, answers user and alias queries, serves a
// third-party protocol and lists a room in its network's room directory. A plain Matrix user
// (fetch) talks to it through Hearth. Run by tests/interop/test_appservice_sdk.py, which starts
// Hearth with the registration in AS_REGISTRATION (users @_hb_.*, aliases #_hb_.*, protocol
// "hearthnet").
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import bridgePkg from "matrix-appservice-bridge";

const { Bridge } = bridgePkg;
const HS = process.env.HEARTH_BASE_URL;
const DOMAIN = process.env.HEARTH_SERVER_NAME;
const REGISTRATION = process.env.AS_REGISTRATION;
const PORT = Number(process.env.AS_PORT);

const received = [];
const waiters = [];

function onBridgeEvent(request) {
    received.push(request.getData());
    for (const w of waiters.splice(0)) {
        if (!w.check()) waiters.push(w);
    }
}

// Resolves once the bridge has received an event matching pred.
function bridgeReceives(pred, what, ms = 20000) {
    return new Promise((resolve, reject) => {
        const w = {
            check: () => {
                const ev = received.find(pred);
                if (ev) {
                    clearTimeout(w.timer);
                    resolve(ev);
                    return true;
                }
                return false;
            },
        };
        if (w.check()) return;
        w.timer = setTimeout(() => reject(new Error("the bridge never received " + what)), ms);
        waiters.push(w);
    });
}

async function call(method, path, token, body, query) {
    const url = new URL(HS + "/_matrix/client/v3" + path);
    for (const [k, v] of Object.entries(query || {})) url.searchParams.set(k, v);
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const r = await fetch(url, { method, headers, body: body ? JSON.stringify(body) : undefined });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function ok(method, path, token, body, query) {
    const r = await call(method, path, token, body, query);
    assert.equal(r.status, 200, `${method} ${path}: ${JSON.stringify(r.body)}`);
    return r.body;
}

async function registerUser() {
    const username = "user" + Math.random().toString(36).slice(2, 10);
    const password = "pw-" + Math.random().toString(36).slice(2);
    let r = await call("POST", "/register", null, { username, password });
    assert.equal(r.status, 401);
    r = await call("POST", "/register", null, {
        username, password, auth: { type: "m.login.dummy", session: r.body.session },
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
}

const PROTOCOL = {
    user_fields: ["nick"],
    location_fields: ["channel"],
    icon: "mxc://example.org/hearthnet",
    field_types: {
        nick: { regexp: "[a-z]+", placeholder: "nick" },
        channel: { regexp: "#[a-z]+", placeholder: "#chan" },
    },
    instances: [{ network_id: "main", desc: "Hearthnet main", fields: {} }],
};

let bridge;
let user;

before(async () => {
    bridge = new Bridge({
        homeserverUrl: HS,
        domain: DOMAIN,
        registration: REGISTRATION,
        disableStores: true,
        // Deliver the ghosts' own events too (bridges usually drop these echoes), so the test
        // sees every event of interest Hearth pushes.
        suppressEcho: false,
        controller: {
            onEvent: onBridgeEvent,
            // A remote user exists for every nick: the bridge makes its ghost and names it.
            onUserQuery: (matrixUser) => ({ name: "Remote " + matrixUser.localpart.slice(4) }),
            // Every remote channel exists: the bridge makes a public portal room for it.
            onAliasQuery: (alias, localpart) => ({
                creationOpts: { room_alias_name: localpart, name: "Portal " + localpart, preset: "public_chat" },
            }),
            thirdPartyLookup: {
                protocols: ["hearthnet"],
                getProtocol: () => PROTOCOL,
                getLocation: (protocol, fields) => [{
                    alias: `#_hb_${String(fields.channel).slice(1)}:${DOMAIN}`, protocol, fields,
                }],
                getUser: (protocol, fields) => [{ userid: `@_hb_${fields.nick}:${DOMAIN}`, protocol, fields }],
            },
            onLog: (line, isError) => { if (isError) console.error(line); },
        },
    });
    await bridge.run(PORT, undefined, "127.0.0.1");
    user = await registerUser();
});

after(async () => {
    await bridge.close();
});

test("user query: inviting an unknown ghost makes the bridge create it", async () => {
    const room = (await ok("POST", "/createRoom", user.access_token, { name: "chat" })).room_id;
    const ghost = `@_hb_alice:${DOMAIN}`;
    await ok("POST", `/rooms/${encodeURIComponent(room)}/invite`, user.access_token, { user_id: ghost });
    const profile = await ok("GET", `/profile/${encodeURIComponent(ghost)}`, user.access_token);
    assert.equal(profile.displayname, "Remote alice");
    // The invite reaches the bridge in a transaction; its ghost accepts it.
    await bridgeReceives((e) => e.type === "m.room.member" && e.state_key === ghost &&
        e.content.membership === "invite" && e.room_id === room, "the ghost's invite");
    await bridge.getIntent(ghost).join(room);
    // Messages of the user reach the bridge, in order.
    const sent = [];
    for (let i = 0; i < 5; i++) {
        sent.push((await ok("PUT", `/rooms/${encodeURIComponent(room)}/send/m.room.message/t${i}`,
            user.access_token, { msgtype: "m.text", body: "to remote " + i })).event_id);
    }
    await bridgeReceives((e) => e.event_id === sent[4], "the user's last message");
    const order = received.filter((e) => sent.includes(e.event_id)).map((e) => e.event_id);
    assert.deepEqual(order, sent);
    // The ghost talks back through its intent, and the user reads it.
    const reply = await bridge.getIntent(ghost).sendText(room, "hello from the remote side");
    const msgs = await ok("GET", `/rooms/${encodeURIComponent(room)}/messages`, user.access_token, null,
        { dir: "b", limit: "5" });
    const found = msgs.chunk.find((e) => e.event_id === reply.event_id);
    assert.ok(found, JSON.stringify(msgs.chunk));
    assert.equal(found.sender, ghost);
    assert.equal(found.content.body, "hello from the remote side");
});

test("intents register ghosts on first use", async () => {
    const room = (await ok("POST", "/createRoom", user.access_token, { preset: "public_chat" })).room_id;
    const ghost = `@_hb_bob:${DOMAIN}`;
    const intent = bridge.getIntent(ghost);
    await intent.setDisplayName("Bob (remote)");
    await intent.join(room);
    const { event_id } = await intent.sendText(room, "bob here");
    const members = await ok("GET", `/rooms/${encodeURIComponent(room)}/joined_members`, user.access_token);
    assert.equal(members.joined[ghost].display_name, "Bob (remote)");
    // The bridge sees its own ghost's message too.
    await bridgeReceives((e) => e.event_id === event_id, "the ghost's message");
});

test("alias query: joining an unknown portal alias makes the bridge create the room", async () => {
    const alias = `#_hb_general:${DOMAIN}`;
    const joined = await ok("POST", `/join/${encodeURIComponent(alias)}`, user.access_token, {});
    const resolved = await ok("GET", `/directory/room/${encodeURIComponent(alias)}`, user.access_token);
    assert.equal(resolved.room_id, joined.room_id);
    const name = await ok("GET", `/rooms/${encodeURIComponent(joined.room_id)}/state/m.room.name`, user.access_token);
    assert.equal(name.name, "Portal _hb_general");
});

test("third-party lookups go to the bridge", async () => {
    const protocols = await ok("GET", "/thirdparty/protocols", user.access_token);
    assert.deepEqual(Object.keys(protocols), ["hearthnet"]);
    const inst = protocols.hearthnet.instances[0];
    assert.equal(inst.network_id, "main");
    assert.equal(inst.instance_id.split("|")[1], "main");
    const locations = await ok("GET", "/thirdparty/location/hearthnet", user.access_token, null, { channel: "#lobby" });
    assert.deepEqual(locations.map((l) => l.alias), [`#_hb_lobby:${DOMAIN}`]);
    const users = await ok("GET", "/thirdparty/user/hearthnet", user.access_token, null, { nick: "carol" });
    assert.deepEqual(users.map((u) => u.userid), [`@_hb_carol:${DOMAIN}`]);
});

test("the bridge lists a portal in its network's room directory", async () => {
    const protocols = await ok("GET", "/thirdparty/protocols", user.access_token);
    const instanceId = protocols.hearthnet.instances[0].instance_id;
    const room = await bridge.getIntent().createRoom({ createAsClient: true, options: { name: "listed portal" } });
    await bridge.getIntent().setRoomDirectoryVisibilityAppService(room.room_id, "main", "public");
    const listed = await ok("POST", "/publicRooms", user.access_token, { third_party_instance_id: instanceId });
    assert.deepEqual(listed.chunk.map((e) => e.room_id), [room.room_id]);
    const mine = await ok("POST", "/publicRooms", user.access_token, {});
    assert.ok(!mine.chunk.some((e) => e.room_id === room.room_id));
});
