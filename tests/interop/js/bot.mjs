// A matrix-js-sdk client acting as the other side of a conversation driven by a matrix-nio
// client (tests/interop/test_cross_client.py). It runs the SDK's normal sync loop and reacts to
// what that loop delivers:
//   invite for me      -> join
//   "ping ..."         -> reply "pong <the message>"
//   "!topic X"         -> set the room topic to X
//   "!whats-topic"     -> reply "topic: <the topic as this client knows it>"
//   "!is-redacted $id" -> reply "redacted <$id>: <true|false|unknown>"
//   "!members"         -> reply "members: <joined user IDs, sorted, comma-separated>"
//   "!whats-name"      -> reply "name: <the room name as this client knows it>"
//   "!redact-last"     -> redact this client's last "pong" message
//   "!leave"           -> leave the room, then print DONE and exit 0
// Environment: HEARTH_BASE_URL, BOT_USER_ID, BOT_ACCESS_TOKEN, BOT_DEVICE_ID. Prints READY once
// the first sync is done. Any error exits 1 with a message on stderr.
import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

import { fetchWithShims, shimmed } from "./shims.mjs";

logger.setLevel("warn", false);

function die(msg) {
    process.stderr.write("bot: " + msg + "\n");
    process.exit(1);
}

const env = process.env;
for (const k of ["HEARTH_BASE_URL", "BOT_USER_ID", "BOT_ACCESS_TOKEN", "BOT_DEVICE_ID"]) {
    if (!env[k]) die(k + " is not set");
}
const me = env.BOT_USER_ID;
const client = sdk.createClient({
    baseUrl: env.HEARTH_BASE_URL,
    userId: me,
    accessToken: env.BOT_ACCESS_TOKEN,
    deviceId: env.BOT_DEVICE_ID,
    fetchFn: fetchWithShims,
});

let chain = Promise.resolve();
const lastPong = new Map(); // room -> event id
function later(fn) {
    chain = chain.then(fn).catch((e) => die(String(e && e.stack ? e.stack : e)));
}

client.on(sdk.RoomMemberEvent.Membership, (event, member) => {
    if (member.userId === me && member.membership === "invite") {
        later(() => client.joinRoom(member.roomId));
    }
});

client.on(sdk.RoomEvent.Timeline, (event, room, toStart, removed, data) => {
    if (toStart || removed || !data || !data.liveEvent) return;
    if (event.getType() !== "m.room.message" || event.getSender() === me) return;
    const body = String(event.getContent().body || "");
    const roomId = room.roomId;
    const say = (text) => client.sendMessage(roomId, { msgtype: "m.text", body: text });
    if (body.startsWith("ping")) {
        later(async () => {
            const r = await say("pong " + body);
            lastPong.set(roomId, r.event_id);
        });
    } else if (body.startsWith("!topic ")) {
        later(() => client.setRoomTopic(roomId, body.slice(7)));
    } else if (body === "!whats-topic") {
        later(() => {
            const t = room.currentState.getStateEvents("m.room.topic", "");
            return say("topic: " + (t ? t.getContent().topic : "(none)"));
        });
    } else if (body.startsWith("!is-redacted ")) {
        const id = body.slice(13);
        later(() => {
            const ev = room.findEventById(id);
            return say("redacted " + id + ": " + (ev ? String(ev.isRedacted()) : "unknown"));
        });
    } else if (body === "!members") {
        later(() => say("members: " + room.getJoinedMembers().map((m) => m.userId).sort().join(",")));
    } else if (body === "!whats-name") {
        later(() => {
            const n = room.currentState.getStateEvents("m.room.name", "");
            return say("name: " + (n ? n.getContent().name : "(none)"));
        });
    } else if (body === "!redact-last") {
        later(() => client.redactEvent(roomId, lastPong.get(roomId)));
    } else if (body === "!leave") {
        later(async () => {
            await client.leave(roomId);
            process.stdout.write("DONE" + (shimmed.size ? " (shimmed: " + [...shimmed].join(", ") + ")" : "") + "\n");
            client.stopClient();
            process.exit(0);
        });
    }
});

client.on(sdk.ClientEvent.Sync, (state, prev, data) => {
    if (state === "PREPARED") process.stdout.write("READY\n");
    if (state === "ERROR") process.stderr.write("bot: sync error: " + (data && data.error) + "\n");
});

setTimeout(() => die("still running after 120 s"), 120000).unref();
await client.startClient({ initialSyncLimit: 20, pollTimeout: 3000, lazyLoadMembers: true });
