// Matrix v1.1 end to end with matrix-js-sdk and its Rust crypto (in memory, offline):
//   1. server discovery: /.well-known/matrix/client on HEARTH_BASE_URL, then /versions must
//      list a version the SDK supports (v1.1);
//   2. alice and bob log in (password) and start their sync loops with Rust crypto;
//   3. each bootstraps cross-signing (POST /keys/device_signing/upload through UIA, then
//      /keys/signatures/upload); alice also sets up secret storage and a key backup
//      (POST /room_keys/version, m.secret_storage.* account data);
//   4. bob sees alice's device signed by her self-signing key (/keys/query signatures);
//   5. alice and bob exchange encrypted messages in an encrypted room;
//   6. alice's room keys reach the backup (PUT /room_keys/keys);
//   7. a new device of alice logs in, unlocks secret storage with the recovery key, restores
//      the room keys from the backup (GET /room_keys/keys) and reads the history.
// Prints "STEP <n> <what>" as it goes and "OK" at the end; any failure exits non-zero.
// Environment: HEARTH_BASE_URL (the server's public base URL, which its .well-known names).
import * as RustSdkCryptoJs from "@matrix-org/matrix-sdk-crypto-wasm";
import * as sdk from "matrix-js-sdk";
import { decodeRecoveryKey } from "matrix-js-sdk/lib/crypto-api/index.js";
import { logger } from "matrix-js-sdk/lib/logger.js";

import { fetchWithShims, shimmed } from "./shims.mjs";

logger.setLevel("error", false);

const WAIT_MS = 30000;
const clients = [];

function die(msg) {
    process.stderr.write("v11_e2e: " + msg + "\n");
    for (const c of clients) c.stopClient();
    process.exit(1);
}

function step(n, what) {
    process.stdout.write("STEP " + n + " " + what + "\n");
}

function check(cond, what) {
    if (!cond) die("check failed: " + what);
}

async function waitFor(what, fn, ms = WAIT_MS) {
    const end = Date.now() + ms;
    for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > end) die("timed out waiting for " + what);
        await new Promise((r) => setTimeout(r, 200));
    }
}

const env = process.env;
if (!env.HEARTH_BASE_URL) die("HEARTH_BASE_URL is not set");
setTimeout(() => die("still running after 240 s"), 240000).unref();

// ---- 1. discovery ----
const discovered = await sdk.AutoDiscovery.findClientConfig(env.HEARTH_BASE_URL);
const hs = discovered["m.homeserver"];
check(hs && hs.state === sdk.AutoDiscovery.SUCCESS,
    "discovery succeeds (got " + JSON.stringify(discovered) + ")");
const baseUrl = hs.base_url;
step(1, "discovered " + baseUrl);

async function api(method, path, body, token) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const res = await fetch(baseUrl + "/_matrix/client/v3" + path, {
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
    check(r.status === 401, "register offers UIA: " + JSON.stringify(r.body));
    r = await api("POST", "/register", {
        username,
        password,
        inhibit_login: true,
        auth: { type: "m.login.dummy", session: r.body.session },
    });
    check(r.status === 200, "register: " + JSON.stringify(r.body));
    return { userId: r.body.user_id, password };
}

// ---- 2. log in and sync ----
async function login(account, deviceName) {
    const tmp = sdk.createClient({ baseUrl, fetchFn: fetchWithShims });
    const res = await tmp.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: account.userId },
        password: account.password,
        initial_device_display_name: deviceName,
    });
    check(res.user_id === account.userId && res.device_id, "login: " + JSON.stringify(res));
    return res;
}

// secretKeys: the user's secret storage keys (keyId -> private key) this device knows, as
// typed in by the user (a recovery key) or created here.
async function start(account, session, secretKeys) {
    const client = sdk.createClient({
        baseUrl,
        userId: session.user_id,
        accessToken: session.access_token,
        deviceId: session.device_id,
        fetchFn: fetchWithShims,
        cryptoCallbacks: {
            getSecretStorageKey: async ({ keys }) => {
                for (const id of Object.keys(keys)) {
                    if (secretKeys.has(id)) return [id, secretKeys.get(id)];
                }
                // The user typed in their recovery key when the device asked for it.
                const typed = secretKeys.get("typed-in recovery key");
                return typed ? [Object.keys(keys)[0], typed] : null;
            },
            cacheSecretStorageKey: (keyId, _info, key) => secretKeys.set(keyId, key),
        },
    });
    clients.push(client);
    const prepared = new Promise((resolve, reject) => {
        client.on(sdk.ClientEvent.Sync, (state, _prev, data) => {
            if (state === "PREPARED") resolve();
            if (state === "ERROR") reject(new Error("sync error: " + (data && data.error)));
        });
    });
    await client.initRustCrypto({ useIndexedDB: false });
    new RustSdkCryptoJs.Tracing(RustSdkCryptoJs.LoggerLevel.Error).turnOn();
    await client.startClient({ initialSyncLimit: 30, pollTimeout: 2000, lazyLoadMembers: true });
    await prepared;
    client.account = account;
    return client;
}

function uiaAuth(account) {
    return {
        type: "m.login.password",
        identifier: { type: "m.id.user", user: account.userId },
        password: account.password,
    };
}

const aliceAcc = await register("alice");
const bobAcc = await register("bob");
const alice = await start(aliceAcc, await login(aliceAcc, "alice laptop"), new Map());
const bob = await start(bobAcc, await login(bobAcc, "bob phone"), new Map());
step(2, "logged in and synced");

// ---- 3. cross-signing, secret storage, key backup ----
for (const c of [alice, bob]) {
    await c.getCrypto().bootstrapCrossSigning({
        authUploadDeviceSigningKeys: async (makeRequest) => {
            await makeRequest(uiaAuth(c.account));
        },
    });
    check(await c.getCrypto().isCrossSigningReady(), c.getUserId() + " cross-signing ready");
}
let recovery = null;
await alice.getCrypto().bootstrapSecretStorage({
    createSecretStorageKey: async () => (recovery = await alice.getCrypto().createRecoveryKeyFromPassphrase()),
    setupNewSecretStorage: true,
    setupNewKeyBackup: true,
});
check(recovery && recovery.encodedPrivateKey, "a recovery key was made");
check(await alice.getCrypto().isSecretStorageReady(), "alice's secret storage is ready");
const backupVersion = await waitFor("alice's backup to be active",
    () => alice.getCrypto().getActiveSessionBackupVersion());
const info = await alice.getCrypto().getKeyBackupInfo();
check(info && info.version === backupVersion, "the server reports the backup version");
check((await alice.getCrypto().isKeyBackupTrusted(info)).trusted, "alice trusts her backup");
step(3, "cross-signing for both, key backup version " + backupVersion);

// ---- 5 (room first, so bob tracks alice's devices) ----
const { room_id: roomId } = await alice.createRoom({
    name: "v1.1 encrypted",
    invite: [bob.getUserId()],
    initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
});
await waitFor("bob's invite", () => bob.getRoom(roomId)?.getMyMembership() === "invite");
await bob.joinRoom(roomId);
await waitFor("alice to see bob join", () => alice.getRoom(roomId)?.getMember(bob.getUserId())?.membership === "join");

// ---- 4. bob sees alice's device cross-signed ----
const aliceDevice = alice.getDeviceId();
const status = await waitFor("bob to see alice's device signed by her", async () => {
    const s = await bob.getCrypto().getDeviceVerificationStatus(alice.getUserId(), aliceDevice);
    return s && s.signedByOwner ? s : null;
});
check(await bob.getCrypto().userHasCrossSigningKeys(alice.getUserId(), true), "bob sees alice's master key");
step(4, "bob sees alice's device signed by owner: " + status.signedByOwner);

function decryptedBodies(client) {
    const room = client.getRoom(roomId);
    if (!room) return [];
    return room
        .getLiveTimeline()
        .getEvents()
        .filter((e) => e.isEncrypted() && !e.isDecryptionFailure() && e.getType() === "m.room.message")
        .map((e) => e.getContent().body);
}

await alice.sendMessage(roomId, { msgtype: "m.text", body: "secret one from alice" });
await waitFor("bob to decrypt alice's message", () => decryptedBodies(bob).includes("secret one from alice"));
await bob.sendMessage(roomId, { msgtype: "m.text", body: "secret reply from bob" });
await waitFor("alice to decrypt bob's reply", () => decryptedBodies(alice).includes("secret reply from bob"));
await alice.sendMessage(roomId, { msgtype: "m.text", body: "secret two from alice" });
await waitFor("bob to decrypt alice's second message", () => decryptedBodies(bob).includes("secret two from alice"));
step(5, "encrypted conversation both ways");

// ---- 6. the room keys are in the backup ----
const aliceToken = alice.getAccessToken();
const backed = await waitFor("alice's room keys in the backup", async () => {
    const r = await api("GET", "/room_keys/keys?version=" + encodeURIComponent(backupVersion), undefined, aliceToken);
    check(r.status === 200, "GET /room_keys/keys: " + JSON.stringify(r.body));
    const sessions = (r.body.rooms && r.body.rooms[roomId] && r.body.rooms[roomId].sessions) || {};
    return Object.keys(sessions).length >= 2 ? sessions : null;
});
step(6, Object.keys(backed).length + " megolm sessions backed up");

// ---- 7. a new device restores from the backup and reads the history ----
const typedIn = new Map([["typed-in recovery key", decodeRecoveryKey(recovery.encodedPrivateKey)]]);
const alice2 = await start(aliceAcc, await login(aliceAcc, "alice new phone"), typedIn);
const crypto2 = alice2.getCrypto();
await waitFor("the new device to see the room", () => alice2.getRoom(roomId));
check(!decryptedBodies(alice2).includes("secret one from alice"), "the new device cannot read the history yet");
await crypto2.loadSessionBackupPrivateKeyFromSecretStorage();
const restored = await crypto2.restoreKeyBackup();
check(restored.imported >= 2, "restored keys: " + JSON.stringify(restored));
const events = alice2.getRoom(roomId).getLiveTimeline().getEvents().filter((e) => e.isEncrypted());
await waitFor("the new device to decrypt the history", async () => {
    for (const e of events) {
        if (e.isDecryptionFailure()) await e.attemptDecryption(crypto2, { isRetry: true });
    }
    const got = decryptedBodies(alice2);
    return ["secret one from alice", "secret reply from bob", "secret two from alice"].every((b) => got.includes(b));
});
step(7, "new device restored " + restored.imported + " keys and read the history");

for (const c of clients) c.stopClient();
process.stdout.write("SHIMMED " + JSON.stringify([...shimmed]) + "\n");
process.stdout.write("OK\n");
process.exit(0);
