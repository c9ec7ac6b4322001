/* keys.yaml, modules/end_to_end_encryption.rst: device identity keys and one-time keys
 * (upload, query, claim) and the device-list changes between two sync tokens. The server keeps
 * only public keys and never sees plaintext; it checks what it can: that device keys belong to
 * the uploading device and are signed by its own ed25519 key. There is no federation yet, so
 * users of other servers are answered as unreachable (`failures`). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/sync_e2e.h"
#include "core/config.h"
#include "core/util.h"
#include "json/canonical.h"
#include "json/json.h"
#include "room/event.h"
#include "room/id.h"
#include "store/store.h"
#include "sync/notifier.h"
#include "sync/token.h"

void
api_device_list_changed(struct hs *hs, const char *user_id)
{
    json_t *sharers = api_room_sharers(hs, user_id), *v;
    const char **users, *user;
    size_t n = 0;

    if (!sharers) {
        notifier_notify(hs->notifier, &user_id, 1);
        return;
    }
    users = xcalloc(json_object_size(sharers), sizeof(*users));
    json_object_foreach(sharers, user, v)
    {
        users[n++] = user;
    }
    notifier_notify(hs->notifier, users, n);
    free(users);
    json_decref(sharers);
}

/* Is user_id one of ours? Remote ones go into `failures` (no federation). Writes the server
 * name of a valid user ID to *server. */
static bool
is_local(struct req *r, const char *user_id, const char **server)
{
    const char *lp;
    size_t lplen;

    *server = "";
    if (!id_user_id_split(user_id, &lp, &lplen, server))
        return false;
    return strcmp(*server, r->hs->cfg->server_name) == 0;
}

static void
add_failure(json_t *failures, const char *server)
{
    /* Synapse's shape for an unreachable server: {"status": 503, "message": ...}. */
    json_object_set_new(
        failures, server,
        json_pack("{s:i, s:s}", "status", 503, "message", "This server does not federate yet"));
}

/* ---- upload ---- */

static bool
is_string_array(const json_t *a)
{
    size_t i;
    json_t *v;

    if (!json_is_array(a))
        return false;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v))
            return false;
    }
    return true;
}

static bool
is_string_map(const json_t *o)
{
    const char *k;
    json_t *v;

    if (!json_is_object(o))
        return false;
    json_object_foreach((json_t *)o, k, v)
    {
        if (!json_is_string(v))
            return false;
    }
    return true;
}

/* SPEC: definitions/device_keys.yaml and end_to_end_encryption.rst "Uploading keys": the
 * object names the device of the access token and "must be signed by" the device's ed25519
 * key. Returns the canonical JSON to store (new string), or NULL after replying. */
static char *
device_keys_or_reply(struct req *r, const json_t *dk)
{
    const char *uid, *did, *ed, *k;
    json_t *sigs, *v, *copy;
    unsigned char pk[32];
    size_t pklen = 0;
    char *key_id = NULL, *canon = NULL;

    if (!json_is_object(dk)) {
        reply_error(r, MERR_BAD_JSON, "device_keys must be an object");
        return NULL;
    }
    uid = json_string_value(json_object_get(dk, "user_id"));
    did = json_string_value(json_object_get(dk, "device_id"));
    sigs = json_object_get(dk, "signatures");
    if (!uid || !did || !is_string_array(json_object_get(dk, "algorithms")) ||
        !is_string_map(json_object_get(dk, "keys")) || !json_is_object(sigs)) {
        reply_error(r, MERR_BAD_JSON,
                    "device_keys needs user_id, device_id, algorithms (strings), keys (strings) "
                    "and signatures");
        return NULL;
    }
    json_object_foreach(sigs, k, v)
    {
        if (!is_string_map(v)) {
            reply_error(r, MERR_BAD_JSON, "device_keys.signatures must map to strings");
            return NULL;
        }
    }
    /* SPEC: "Must match the user ID used when logging in", "Must match the device ID". */
    if (strcmp(uid, r->user_id) != 0) {
        reply_error(r, MERR_INVALID_PARAM, "device_keys.user_id is not yours");
        return NULL;
    }
    if (strcmp(did, r->device_id) != 0) {
        reply_error(r, MERR_INVALID_PARAM, "device_keys.device_id is not this device");
        return NULL;
    }
    key_id = xasprintf("ed25519:%s", did);
    ed = json_string_value(json_object_get(json_object_get(dk, "keys"), key_id));
    if (!ed || util_base64_decode(ed, pk, sizeof(pk), &pklen) != 0 || pklen != sizeof(pk)) {
        reply_error(r, MERR_INVALID_PARAM, "device_keys.keys needs the device's %s key", key_id);
        goto out;
    }
    /* SPEC: appendices/signing_json.rst "Checking for a Signature", with the key it carries. */
    if (!json_verify(dk, uid, key_id, pk)) {
        reply_error(r, MERR_INVALID_PARAM, "device_keys is not signed by its %s key", key_id);
        goto out;
    }
    /* The server's own unsigned data is added when keys are queried. */
    copy = json_deep_copy(dk);
    json_object_del(copy, "unsigned");
    canon = json_canonical(copy, false, NULL);
    json_decref(copy);
    if (!canon)
        reply_error(r, MERR_BAD_JSON, "device_keys cannot be written as canonical JSON");
out:
    free(key_id);
    return canon;
}

/* The one-time keys of an upload: otks[i] points into owned[2i] (algorithm) and owned[2i+1]
 * (canonical JSON) and into the body (key ID). */
struct otk_list {
    struct store_otk *otks;
    char **owned;
    size_t n;
};

static void
otk_list_clear(struct otk_list *l)
{
    for (size_t i = 0; i < 2 * l->n; i++)
        free(l->owned[i]);
    free(l->owned);
    free(l->otks);
    memset(l, 0, sizeof(*l));
}

/* Parses one_time_keys (may be NULL) into l. Returns false after replying. */
static bool
otks_or_reply(struct req *r, const json_t *keys, struct otk_list *l)
{
    const char *name;
    json_t *v;

    memset(l, 0, sizeof(*l));
    if (!keys || json_is_null(keys))
        return true;
    if (!json_is_object(keys)) {
        reply_error(r, MERR_BAD_JSON, "one_time_keys must be an object");
        return false;
    }
    l->otks = xcalloc(json_object_size(keys) + 1, sizeof(*l->otks));
    l->owned = xcalloc(2 * json_object_size(keys) + 1, sizeof(*l->owned));
    json_object_foreach((json_t *)keys, name, v)
    {
        /* SPEC: "The names of the properties should be in the format <algorithm>:<key_id>";
         * a key is a string or a KeyObject. */
        const char *colon = strchr(name, ':');
        char *text;
        if (!colon || colon == name || !colon[1] || strlen(name) > 255) {
            reply_error(r, MERR_INVALID_PARAM, "one_time_keys names are <algorithm>:<key_id>");
            goto fail;
        }
        if (!json_is_string(v) && !json_is_object(v)) {
            reply_error(r, MERR_BAD_JSON, "a one-time key is a string or an object");
            goto fail;
        }
        if (!(text = json_canonical(v, false, NULL))) {
            reply_error(r, MERR_BAD_JSON, "a one-time key cannot be written as canonical JSON");
            goto fail;
        }
        l->owned[2 * l->n] = xstrndup(name, (size_t)(colon - name));
        l->owned[2 * l->n + 1] = text;
        l->otks[l->n].algorithm = l->owned[2 * l->n];
        l->otks[l->n].key_id = colon + 1;
        l->otks[l->n].key_json = text;
        l->n++;
    }
    return true;
fail:
    otk_list_clear(l);
    return false;
}

static json_t *
counts_json(struct req *r)
{
    struct store_otk_count *list = NULL;
    size_t n = 0;
    json_t *out;

    if (store_otk_counts(r->hs->store, r->user_id, r->device_id, &list, &n) != STORE_OK)
        return NULL;
    /* Synapse always lists signed_curve25519, and clients rely on it (see sync_e2e.c). */
    out = json_pack("{s:i}", "signed_curve25519", 0);
    for (size_t i = 0; i < n; i++)
        json_object_set_new(out, list[i].algorithm, json_integer(list[i].count));
    store_otk_counts_free(list, n);
    return out;
}

/* POST /_matrix/client/r0/keys/upload */
void
keys_upload(struct req *r)
{
    const json_t *dk = json_object_get(r->json, "device_keys");
    struct store_keys_upload u = {.user_id = r->user_id, .device_id = r->device_id};
    struct otk_list l = {0};
    char *canon = NULL;
    json_t *counts;
    enum store_rc rc;

    /* Keys belong to a device; an application service's token has none (issue 13). */
    if (!r->device_id) {
        reply_error(r, MERR_INVALID_PARAM, "This access token has no device to hold keys");
        return;
    }
    /* SPEC: "May be absent if no new identity keys are required." */
    if (dk && !json_is_null(dk) && !(canon = device_keys_or_reply(r, dk)))
        return;
    if (!otks_or_reply(r, json_object_get(r->json, "one_time_keys"), &l))
        goto out;
    u.device_keys = canon;
    u.otks = l.otks;
    u.n_otks = l.n;
    rc = store_keys_upload(r->hs->store, &u);
    if (rc == STORE_EXISTS) {
        /* Synapse's rule, which clients expect: a one-time key ID held by the server is never
         * given other content; the same content again is a harmless retry. */
        reply_error(r, MERR_INVALID_PARAM, "One-time key %s already exists with other content",
                    u.conflict);
        free(u.conflict);
        goto out;
    }
    if (rc != STORE_OK) {
        reply_internal(r, "key upload failed");
        goto out;
    }
    /* SPEC: a changed upload is a device-list change for everyone sharing a room. */
    if (u.device_keys_changed)
        api_device_list_changed(r->hs, r->user_id);
    if (!(counts = counts_json(r))) {
        reply_internal(r, "key count failed");
        goto out;
    }
    reply_json(r, 200, json_pack("{s:o}", "one_time_key_counts", counts));
out:
    otk_list_clear(&l);
    free(canon);
}

/* ---- query ---- */

/* Is device_id among the strings of a (possibly empty = all) list? */
static bool
wanted(const json_t *list, const char *device_id)
{
    size_t i;
    json_t *v;

    if (json_array_size(list) == 0)
        return true;
    json_array_foreach(list, i, v)
    {
        if (strcmp(json_string_value(v), device_id) == 0)
            return true;
    }
    return false;
}

/* The queried devices of one local user: {device_id: keys with unsigned}. New reference, or
 * NULL on storage failure. */
static json_t *
user_devices(struct req *r, const char *user_id, const json_t *devices)
{
    struct store_device_keys *list = NULL;
    size_t n = 0;
    json_t *out;

    if (store_device_keys_list(r->hs->store, user_id, &list, &n) != STORE_OK)
        return NULL;
    out = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *keys, *unsig;
        if (!wanted(devices, list[i].device_id) || !(keys = json_loads(list[i].key_json, 0, NULL)))
            continue;
        /* SPEC: keys.yaml: "the same as uploaded via /keys/upload, with the addition of an
         * unsigned property" holding device_display_name. */
        unsig = json_object();
        if (list[i].display_name)
            json_object_set_new(unsig, "device_display_name", json_string(list[i].display_name));
        json_object_set_new(keys, "unsigned", unsig);
        json_object_set_new(out, list[i].device_id, keys);
    }
    store_device_keys_free(list, n);
    return out;
}

/* The optional timeout of query and claim: an integer (there is nothing remote to wait for). */
static bool
timeout_ok_or_reply(struct req *r)
{
    const json_t *t = json_object_get(r->json, "timeout");
    if (t && !json_is_integer(t)) {
        reply_error(r, MERR_BAD_JSON, "timeout must be an integer");
        return false;
    }
    return true;
}

/* Checks the user-keyed map of a query or claim: every key a user ID, every value of type
 * `ok`. Returns false after replying. */
static bool
user_map_or_reply(struct req *r, const char *field, const json_t *map, bool (*ok)(const json_t *),
                  const char *what)
{
    const char *user;
    json_t *v;

    if (!map) {
        reply_error(r, MERR_MISSING_PARAM, "Missing %s", field);
        return false;
    }
    if (!json_is_object(map)) {
        reply_error(r, MERR_BAD_JSON, "%s must be an object", field);
        return false;
    }
    json_object_foreach((json_t *)map, user, v)
    {
        if (!id_user_id_valid(user)) {
            reply_error(r, MERR_INVALID_PARAM, "%s: '%s' is not a user ID", field, user);
            return false;
        }
        if (!ok(v)) {
            reply_error(r, MERR_BAD_JSON, "%s: each user maps to %s", field, what);
            return false;
        }
    }
    return true;
}

/* POST /_matrix/client/r0/keys/query */
void
keys_query(struct req *r)
{
    const json_t *query = json_object_get(r->json, "device_keys"), *devices, *tok;
    json_t *result = NULL, *failures = NULL, *xsign = NULL;
    const char *user, *server;

    if (!user_map_or_reply(r, "device_keys", query, is_string_array, "a list of device IDs") ||
        !timeout_ok_or_reply(r))
        return;
    /* SPEC: token lets the server make sure its answer is at least that recent; ours always
     * is (every write is committed before its 200), so it only needs to be a string. */
    if ((tok = json_object_get(r->json, "token")) && !json_is_string(tok)) {
        reply_error(r, MERR_BAD_JSON, "token must be a string");
        return;
    }
    result = json_object();
    failures = json_object();
    /* Matrix v1.1 cross-signing keys (cross_signing.c). */
    xsign =
        json_pack("{s:{}, s:{}, s:{}}", "master_keys", "self_signing_keys", "user_signing_keys");
    json_object_foreach((json_t *)query, user, devices)
    {
        json_t *found;
        if (!is_local(r, user, &server)) {
            add_failure(failures, server);
            continue;
        }
        /* A local user without keys is listed empty, as Synapse does (SPEC: unknown users
         * and devices are simply not in device_keys; an empty map says as much). */
        if (!(found = user_devices(r, user, devices))) {
            reply_internal(r, "key query failed");
            goto out;
        }
        json_object_set_new(result, user, found);
        if (api_xsign_decorate(r, user, found, xsign) != 0) {
            reply_internal(r, "cross-signing key query failed");
            goto out;
        }
    }
    json_object_set(xsign, "device_keys", result);
    json_object_set(xsign, "failures", failures);
    reply_json(r, 200, json_incref(xsign));
out:
    json_decref(xsign);
    json_decref(result);
    json_decref(failures);
}

/* ---- claim ---- */

static bool
is_device_algorithm_map(const json_t *o)
{
    return is_string_map(o);
}

/* POST /_matrix/client/r0/keys/claim */
void
keys_claim(struct req *r)
{
    const json_t *want = json_object_get(r->json, "one_time_keys"), *devices, *alg;
    struct store_claim *claims = NULL;
    json_t *result = NULL, *failures = NULL;
    const char *user, *device, *server;
    size_t n = 0, cap = 0;

    if (!user_map_or_reply(r, "one_time_keys", want, is_device_algorithm_map,
                           "{device ID: algorithm}") ||
        !timeout_ok_or_reply(r))
        return;
    failures = json_object();
    json_object_foreach((json_t *)want, user, devices)
    {
        if (!is_local(r, user, &server)) {
            add_failure(failures, server);
            continue;
        }
        cap += json_object_size(devices);
    }
    claims = xcalloc(cap + 1, sizeof(*claims));
    json_object_foreach((json_t *)want, user, devices)
    {
        if (!is_local(r, user, &server))
            continue;
        json_object_foreach((json_t *)devices, device, alg)
        {
            claims[n++] = (struct store_claim){user, device, json_string_value(alg), NULL, NULL};
        }
    }
    if (store_otks_claim(r->hs->store, claims, n) != STORE_OK) {
        reply_internal(r, "key claim failed");
        goto out;
    }
    result = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *key, *u, *d;
        char *name;
        if (!claims[i].key_id || !(key = json_loads(claims[i].key_json, JSON_DECODE_ANY, NULL)))
            continue;
        if (!(u = json_object_get(result, claims[i].user_id))) {
            u = json_object();
            json_object_set_new(result, claims[i].user_id, u);
        }
        if (!(d = json_object_get(u, claims[i].device_id))) {
            d = json_object();
            json_object_set_new(u, claims[i].device_id, d);
        }
        name = xasprintf("%s:%s", claims[i].algorithm, claims[i].key_id);
        json_object_set_new(d, name, key);
        free(name);
    }
    reply_json(r, 200, json_pack("{s:O, s:O}", "one_time_keys", result, "failures", failures));
out:
    store_claims_clear(claims, n);
    free(claims);
    json_decref(result);
    json_decref(failures);
}

/* ---- changes ---- */

static int64_t
at_most(int64_t v, int64_t max)
{
    return v < max ? v : max;
}

/* GET /_matrix/client/r0/keys/changes */
void
keys_changes(struct req *r)
{
    const char *from_s = req_query(r, "from"), *to_s = req_query(r, "to");
    struct sync_token from, to;
    int64_t ev_now = 0, dl_now = 0;
    json_t *changed = NULL, *left = NULL;

    /* SPEC: keys.yaml: both from and to are required (Synapse ignores `to`). */
    if (!from_s || !to_s) {
        reply_error(r, MERR_MISSING_PARAM, "from and to are required");
        return;
    }
    if (sync_token_parse(from_s, &from) != 0 || sync_token_parse(to_s, &to) != 0) {
        reply_error(r, MERR_INVALID_PARAM, "from and to must be sync tokens");
        return;
    }
    if (store_stream_position(r->hs->store, &ev_now) != STORE_OK ||
        store_counter(r->hs->store, "device_lists", &dl_now) != STORE_OK) {
        reply_internal(r, "position lookup failed");
        return;
    }
    /* Positions beyond now (another server's token, a restored backup) count as now. */
    if (sync_e2e_device_lists(r->hs, r->user_id, at_most(from.pos[STREAM_EVENTS], ev_now),
                              at_most(to.pos[STREAM_EVENTS], ev_now),
                              at_most(from.pos[STREAM_DEVICE_LISTS], dl_now),
                              at_most(to.pos[STREAM_DEVICE_LISTS], dl_now), &changed, &left) != 0) {
        reply_internal(r, "device list changes failed");
        return;
    }
    reply_json(r, 200, json_pack("{s:o, s:o}", "changed", changed, "left", left));
}
