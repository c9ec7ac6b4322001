// matrix-js-sdk with its Rust crypto (@matrix-org/matrix-sdk-crypto-wasm, in memory) as the
// other side of an encrypted conversation driven by a matrix-nio client
// (tests/interop/test_nio_e2e.py). It runs the SDK's normal sync loop:
//   invite for me           -> join
//   an encrypted message    -> print "DECRYPTED <sender> <body>" once decrypted
//                              (or "UNDECRYPTABLE <sender> <reason>")
//   "ping ..." (decrypted)  -> reply "pong <the message>" (encrypted by the SDK)
// Environment: HEARTH_BASE_URL, BOT_USER_ID, BOT_ACCESS_TOKEN, BOT_DEVICE_ID. Prints
// "READY <ed25519 key>" once the first sync is done and the device's keys are uploaded.
import * as RustSdkCryptoJs from "@matrix-org/matrix-sdk-crypto-wasm";
import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

import { fetchWithShims } from "./shims.mjs";

logger.setLevel("error", false);

function die(msg) {
    process.stderr.write("e2e_bot: " + msg + "\n");
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
function later(fn) {
    chain = chain.then(fn).catch((e) => die(String(e && e.stack ? e.stack : e)));
}

client.on(sdk.RoomMemberEvent.Membership, (event, member) => {
    if (member.userId === me && member.membership === "invite") {
        later(() => client.joinRoom(member.roomId));
    }
});

const seen = new Set();
function onClear(event) {
    if (event.getSender() === me || !event.isEncrypted() || seen.has(event.getId())) return;
    if (event.isDecryptionFailure()) {
        process.stdout.write("UNDECRYPTABLE " + event.getSender() + " " +
            String(event.decryptionFailureReason) + "\n");
        return;
    }
    if (event.getType() !== "m.room.message") return;
    seen.add(event.getId());
    const body = String(event.getContent().body || "");
    process.stdout.write("DECRYPTED " + event.getSender() + " " + body + "\n");
    if (body.startsWith("ping")) {
        later(() => client.sendMessage(event.getRoomId(), { msgtype: "m.text", body: "pong " + body }));
    }
}

client.on(sdk.MatrixEventEvent.Decrypted, (event) => onClear(event));

client.on(sdk.ClientEvent.Sync, (state, prev, data) => {
    if (state === "PREPARED") {
        later(async () => {
            const crypto = client.getCrypto();
            const keys = await crypto.getOwnDeviceKeys();
            process.stdout.write("READY " + keys.ed25519 + "\n");
        });
    }
    if (state === "ERROR") process.stderr.write("e2e_bot: sync error: " + (data && data.error) + "\n");
});

setTimeout(() => die("still running after 150 s"), 150000).unref();
await client.initRustCrypto({ useIndexedDB: false });
// initRustCrypto turns the crypto library's tracing on at debug level; errors are enough here.
new RustSdkCryptoJs.Tracing(RustSdkCryptoJs.LoggerLevel.Error).turnOn();
await client.startClient({ initialSyncLimit: 20, pollTimeout: 3000, lazyLoadMembers: true });
