/* cross_signing.yaml, modules/end_to_end_encryption.md "Cross-signing" (Matrix v1.1): a user's
 * master, self-signing and user-signing keys, and the signatures users make with them (and
 * with their devices) on devices and other users' master keys. Every signature is checked
 * (ed25519 over canonical JSON) before it is stored; /keys/query shows the keys and the
 * signatures (keys.c calls api_xsign_decorate). */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/uia.h"
#include "core/config.h"
#include "core/util.h"
#include "json/canonical.h"
#include "json/json.h"
#include "room/event.h"
#include "room/id.h"
#include "store/store.h"

static const struct uia_flow password_flows[] = {{{"m.login.password", NULL}}};

static const char *const key_types[] = {"master", "self_signing", "user_signing"};
static const char *const body_fields[] = {"master_key", "self_signing_key", "user_signing_key"};

/* Decodes an unpadded base64 ed25519 public key. */
static bool
decode_pk(const char *b64, unsigned char pk[32])
{
    size_t len = 0;
    return b64 && util_base64_decode(b64, pk, 32, &len) == 0 && len == 32;
}

/* The object without signatures and unsigned, canonical (new string or NULL). */
static char *
signed_part(const json_t *obj)
{
    json_t *copy = json_deep_copy(obj);
    char *out;
    json_object_del(copy, "signatures");
    json_object_del(copy, "unsigned");
    out = json_canonical(copy, false, NULL);
    json_decref(copy);
    return out;
}

/* Checks a CrossSigningKey (definitions/cross_signing_key.yaml) of `usage` for the requester:
 * user_id, usage, exactly one ed25519 key named by itself. *pub points into key. Replies and
 * returns false when it is not. */
static bool
xsign_key_ok_or_reply(struct req *r, const json_t *key, const char *field, const char *usage,
                      const char **pub)
{
    const char *uid = json_string_value(json_object_get(key, "user_id")), *name;
    const json_t *use = json_object_get(key, "usage"), *keys = json_object_get(key, "keys");
    const json_t *sigs = json_object_get(key, "signatures"), *v;
    unsigned char pk[32];
    bool has_usage = false;
    size_t i;

    if (!json_is_object(key) || !uid || !json_is_array(use) || !json_is_object(keys) ||
        (sigs && !json_is_object(sigs))) {
        reply_error(r, MERR_BAD_JSON, "%s needs user_id, usage and keys", field);
        return false;
    }
    json_array_foreach(use, i, v)
    {
        if (!json_is_string(v)) {
            reply_error(r, MERR_BAD_JSON, "%s.usage must be strings", field);
            return false;
        }
        has_usage = has_usage || strcmp(json_string_value(v), usage) == 0;
    }
    if (strcmp(uid, r->user_id) != 0) {
        reply_error(r, MERR_INVALID_PARAM, "%s.user_id is not yours", field);
        return false;
    }
    if (!has_usage) {
        reply_error(r, MERR_INVALID_PARAM, "%s.usage must include %s", field, usage);
        return false;
    }
    /* SPEC: "The object must have exactly one property, whose name is in the form
     * <algorithm>:<unpadded_base64_public_key>, and whose value is the unpadded base64 public
     * key." Only ed25519 is defined. */
    if (json_object_size(keys) != 1) {
        reply_error(r, MERR_INVALID_PARAM, "%s.keys must hold exactly one key", field);
        return false;
    }
    json_object_foreach((json_t *)keys, name, v)
    {
        const char *val = json_string_value(v);
        if (strncmp(name, "ed25519:", 8) != 0 || !val || strcmp(name + 8, val) != 0 ||
            !decode_pk(val, pk)) {
            reply_error(r, MERR_INVALID_PARAM,
                        "%s.keys must be {\"ed25519:<public key>\": \"<public key>\"}", field);
            return false;
        }
        *pub = val;
    }
    return true;
}

/* Is pub one of the user's device IDs? (SPEC: 403 "The public key of one of the keys is the
 * same as one of the user's device IDs".) -1 on storage failure. */
static int
is_device_id(struct req *r, const char *pub)
{
    struct store_device *list = NULL;
    size_t n = 0;
    int found = 0;

    if (store_device_list(r->hs->store, r->user_id, &list, &n) != STORE_OK)
        return -1;
    for (size_t i = 0; i < n && !found; i++)
        found = strcmp(list[i].device_id, pub) == 0;
    store_device_list_free(list, n);
    return found;
}

/* The stored public key of a type (borrowed from list), or NULL. */
static const char *
stored_pub(const struct store_xsign_key *list, size_t n, const char *type)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].key_type, type) == 0)
            return list[i].public_key;
    return NULL;
}

static const char *
stored_json(const struct store_xsign_key *list, size_t n, const char *type)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i].key_type, type) == 0)
            return list[i].key_json;
    return NULL;
}

/* POST /_matrix/client/v3/keys/device_signing/upload */
void
xsign_device_signing_upload(struct req *r)
{
    struct store_xsign_key *old = NULL;
    struct store_xsign_put put[3];
    char *canon[3] = {NULL, NULL, NULL};
    const char *pubs[3] = {NULL, NULL, NULL}, *master_pub;
    size_t n_old = 0, n_put = 0;
    unsigned char pk[32];

    /* SPEC: "This API endpoint uses the User-Interactive Authentication API." */
    if (!uia_check_or_reply(r, "device_signing_upload", password_flows, 1, r->user_id))
        return;
    for (int i = 0; i < 3; i++) {
        const json_t *k = json_object_get(r->json, body_fields[i]);
        if (!k || json_is_null(k))
            continue;
        if (!xsign_key_ok_or_reply(r, k, body_fields[i], key_types[i], &pubs[i]))
            goto out;
    }
    if (store_xsign_keys_get(r->hs->store, r->user_id, &old, &n_old) != STORE_OK) {
        reply_internal(r, "cross-signing key lookup failed");
        goto out;
    }
    master_pub = pubs[0] ? pubs[0] : stored_pub(old, n_old, "master");
    for (int i = 1; i < 3; i++) {
        char *key_id;
        bool ok;
        if (!pubs[i])
            continue;
        /* SPEC: 400 M_MISSING_PARAM "No master key is available". */
        if (!master_pub) {
            reply_error(r, MERR_MISSING_PARAM, "No master key is available");
            goto out;
        }
        /* SPEC: "Must be signed by the accompanying master key, or by the user's most
         * recently uploaded master key if no master key is included in the request." */
        key_id = xasprintf("ed25519:%s", master_pub);
        ok = decode_pk(master_pub, pk) &&
             json_verify(json_object_get(r->json, body_fields[i]), r->user_id, key_id, pk);
        free(key_id);
        if (!ok) {
            reply_error(r, MERR_INVALID_SIGNATURE, "%s is not signed by the master key",
                        body_fields[i]);
            goto out;
        }
    }
    for (int i = 0; i < 3; i++) {
        json_t *copy;
        int dev;
        if (!pubs[i])
            continue;
        if ((dev = is_device_id(r, pubs[i])) != 0) {
            if (dev < 0)
                reply_internal(r, "device lookup failed");
            else
                reply_error(r, MERR_FORBIDDEN, "Key ID in use");
            goto out;
        }
        copy = json_deep_copy(json_object_get(r->json, body_fields[i]));
        json_object_del(copy, "unsigned");
        canon[i] = json_canonical(copy, false, NULL);
        json_decref(copy);
        if (!canon[i]) {
            reply_error(r, MERR_BAD_JSON, "%s cannot be written as canonical JSON", body_fields[i]);
            goto out;
        }
        put[n_put++] = (struct store_xsign_put){key_types[i], pubs[i], canon[i]};
    }
    if (n_put > 0) {
        if (store_xsign_keys_put(r->hs->store, r->user_id, put, n_put) != STORE_OK) {
            reply_internal(r, "cross-signing key upload failed");
            goto out;
        }
        /* SPEC: new cross-signing keys are a device-list change for those sharing a room. */
        api_device_list_changed(r->hs, r->user_id);
    }
    reply_empty(r);
out:
    for (int i = 0; i < 3; i++)
        free(canon[i]);
    store_xsign_keys_free(old, n_old);
}

/* ---- signatures ---- */

static void
add_sig_failure(json_t *failures, const char *user, const char *key_id, enum merr e,
                const char *msg)
{
    json_t *u = json_object_get(failures, user);
    if (!u) {
        u = json_object();
        json_object_set_new(failures, user, u);
    }
    json_object_set_new(u, key_id, json_pack("{s:s, s:s}", "errcode", merr_code(e), "error", msg));
}

/* Is `obj` (as uploaded) the same key as `stored_canon` apart from signatures? */
static bool
same_key(const json_t *obj, const char *stored_canon)
{
    json_t *stored = json_loads(stored_canon, 0, NULL);
    char *a = NULL, *b = NULL;
    bool same = false;

    if (!stored)
        return false;
    a = signed_part(obj);
    b = signed_part(stored);
    same = a && b && strcmp(a, b) == 0;
    free(a);
    free(b);
    json_decref(stored);
    return same;
}

/* The ed25519 key of one of the user's devices (from its uploaded keys), or false. */
static bool
device_pk(const struct store_device_keys *list, size_t n, const char *device_id,
          unsigned char pk[32], const char **key_json)
{
    for (size_t i = 0; i < n; i++) {
        json_t *keys;
        char *name;
        bool ok;
        if (strcmp(list[i].device_id, device_id) != 0)
            continue;
        if (!(keys = json_loads(list[i].key_json, 0, NULL)))
            return false;
        name = xasprintf("ed25519:%s", device_id);
        ok = decode_pk(json_string_value(json_object_get(json_object_get(keys, "keys"), name)), pk);
        free(name);
        json_decref(keys);
        if (ok && key_json)
            *key_json = list[i].key_json;
        return ok;
    }
    return false;
}

/* Collected signatures to store (all strings owned). */
struct sig_list {
    struct store_xsign_sig *v;
    size_t n, cap;
};

static void
sig_push(struct sig_list *l, const char *signer, const char *signer_key_id, const char *target,
         const char *target_key_id, const char *sig)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = (struct store_xsign_sig){xstrdup(signer), xstrdup(signer_key_id),
                                            xstrdup(target), xstrdup(target_key_id), xstrdup(sig)};
}

/* One signed object of the requester's own keys: a device signed by the self-signing key, or
 * the master key signed by devices. Returns NULL when stored, else the failure message (and
 * *e). */
static const char *
own_signature(struct req *r, const char *key_id, const json_t *obj,
              const struct store_xsign_key *mine, size_t n_mine,
              const struct store_device_keys *devs, size_t n_devs, struct sig_list *out,
              enum merr *e)
{
    const json_t *sigs = json_object_get(json_object_get(obj, "signatures"), r->user_id);
    const char *master = stored_pub(mine, n_mine, "master"), *dev_json = NULL, *name;
    unsigned char pk[32];
    json_t *v;

    *e = MERR_INVALID_SIGNATURE;
    if (master && strcmp(key_id, master) == 0) {
        /* The master key, signed by one or more of the user's devices. */
        size_t before = out->n;
        if (!same_key(obj, stored_json(mine, n_mine, "master")))
            return "The signed object is not the stored master key";
        json_object_foreach((json_t *)sigs, name, v)
        {
            if (strncmp(name, "ed25519:", 8) != 0 || !json_is_string(v) ||
                !device_pk(devs, n_devs, name + 8, pk, NULL))
                continue;
            if (json_verify(obj, r->user_id, name, pk))
                sig_push(out, r->user_id, name, r->user_id, key_id, json_string_value(v));
        }
        return out->n > before ? NULL : "Invalid signature";
    }
    if (device_pk(devs, n_devs, key_id, pk, &dev_json)) {
        /* A device of the user, signed by the self-signing key. */
        const char *ssk = stored_pub(mine, n_mine, "self_signing");
        char *ssk_id;
        bool ok;
        if (!ssk) {
            *e = MERR_NOT_FOUND;
            return "No self-signing key";
        }
        if (!same_key(obj, dev_json))
            return "The signed object is not the stored device key";
        ssk_id = xasprintf("ed25519:%s", ssk);
        ok = decode_pk(ssk, pk) && json_verify(obj, r->user_id, ssk_id, pk);
        if (ok)
            sig_push(out, r->user_id, ssk_id, r->user_id, key_id,
                     json_string_value(json_object_get(sigs, ssk_id)));
        free(ssk_id);
        return ok ? NULL : "Invalid signature";
    }
    *e = MERR_NOT_FOUND;
    return "Unknown device or key";
}

/* Another local user's master key signed by the requester's user-signing key. */
static const char *
other_signature(struct req *r, const char *user, const char *key_id, const json_t *obj,
                const struct store_xsign_key *mine, size_t n_mine, struct sig_list *out,
                enum merr *e)
{
    struct store_xsign_key *theirs = NULL;
    size_t n = 0;
    const char *usk = stored_pub(mine, n_mine, "user_signing"), *master, *err = NULL;
    unsigned char pk[32];
    char *usk_id = NULL;

    *e = MERR_NOT_FOUND;
    if (!usk)
        return "No user-signing key";
    if (store_xsign_keys_get(r->hs->store, user, &theirs, &n) != STORE_OK) {
        *e = MERR_UNKNOWN;
        return "Storage failure";
    }
    master = stored_pub(theirs, n, "master");
    if (!master || strcmp(master, key_id) != 0) {
        err = "Only a user's master key can be signed";
        goto out;
    }
    *e = MERR_INVALID_SIGNATURE;
    if (!same_key(obj, stored_json(theirs, n, "master"))) {
        err = "The signed object is not the stored master key";
        goto out;
    }
    usk_id = xasprintf("ed25519:%s", usk);
    if (!decode_pk(usk, pk) || !json_verify(obj, r->user_id, usk_id, pk)) {
        err = "Invalid signature";
        goto out;
    }
    sig_push(out, r->user_id, usk_id, user, key_id,
             json_string_value(json_object_get(
                 json_object_get(json_object_get(obj, "signatures"), r->user_id), usk_id)));
out:
    free(usk_id);
    store_xsign_keys_free(theirs, n);
    return err;
}

/* POST /_matrix/client/v3/keys/signatures/upload */
void
xsign_signatures_upload(struct req *r)
{
    struct store_xsign_key *mine = NULL;
    struct store_device_keys *devs = NULL;
    struct sig_list sigs = {0};
    size_t n_mine = 0, n_devs = 0, n_changed = 0;
    const char *user, *key_id, *changed[2];
    json_t *keys, *obj, *failures = json_object();
    bool own = false, others = false;

    json_object_foreach(r->json, user, keys)
    {
        if (!json_is_object(keys)) {
            reply_error(r, MERR_BAD_JSON, "each user maps to {key ID: signed object}");
            goto out;
        }
        json_object_foreach(keys, key_id, obj)
        {
            if (!json_is_object(obj)) {
                reply_error(r, MERR_BAD_JSON, "each key ID maps to a signed object");
                goto out;
            }
        }
    }
    if (store_xsign_keys_get(r->hs->store, r->user_id, &mine, &n_mine) != STORE_OK ||
        store_device_keys_list(r->hs->store, r->user_id, &devs, &n_devs) != STORE_OK) {
        reply_internal(r, "key lookup failed");
        goto out;
    }
    json_object_foreach(r->json, user, keys)
    {
        const char *lp, *server;
        size_t lplen;
        bool local = id_user_id_split(user, &lp, &lplen, &server) &&
                     strcmp(server, r->hs->cfg->server_name) == 0;
        json_object_foreach(keys, key_id, obj)
        {
            enum merr e = MERR_UNKNOWN;
            const char *err;
            size_t before = sigs.n;
            if (!local)
                err = "This server does not federate yet";
            else if (strcmp(user, r->user_id) == 0)
                err = own_signature(r, key_id, obj, mine, n_mine, devs, n_devs, &sigs, &e);
            else
                err = other_signature(r, user, key_id, obj, mine, n_mine, &sigs, &e);
            /* SPEC: "A map from user ID to key ID to an error for any signatures that
             * failed." */
            if (err)
                add_sig_failure(failures, user, key_id, e, err);
            if (sigs.n > before) {
                if (strcmp(user, r->user_id) == 0)
                    own = true;
                else
                    others = true;
            }
        }
    }
    /* A signature on one's own keys changes one's device list for everyone; one on another
     * user's master key matters to the signer (Synapse tells only the signer's devices). */
    if (own || others)
        changed[n_changed++] = r->user_id;
    if (store_xsign_sigs_add(r->hs->store, sigs.v, sigs.n, changed, n_changed) != STORE_OK) {
        reply_internal(r, "signature upload failed");
        goto out;
    }
    if (n_changed)
        api_device_list_changed(r->hs, r->user_id);
    reply_json(r, 200, json_pack("{s:O}", "failures", failures));
out:
    store_xsign_sigs_free(sigs.v, sigs.n);
    store_xsign_keys_free(mine, n_mine);
    store_device_keys_free(devs, n_devs);
    json_decref(failures);
}

/* ---- /keys/query ---- */

/* Adds the stored signatures on target_key_id to obj.signatures. */
static void
merge_sigs(json_t *obj, const struct store_xsign_sig *sigs, size_t n, const char *target_key_id)
{
    for (size_t i = 0; i < n; i++) {
        json_t *all, *u;
        if (strcmp(sigs[i].target_key_id, target_key_id) != 0)
            continue;
        if (!json_is_object(all = json_object_get(obj, "signatures"))) {
            all = json_object();
            json_object_set_new(obj, "signatures", all);
        }
        if (!(u = json_object_get(all, sigs[i].signer_user_id))) {
            u = json_object();
            json_object_set_new(all, sigs[i].signer_user_id, u);
        }
        json_object_set_new(u, sigs[i].signer_key_id, json_string(sigs[i].signature));
    }
}

int
api_xsign_decorate(struct req *r, const char *user_id, json_t *devices, json_t *result)
{
    struct store_xsign_key *keys = NULL;
    struct store_xsign_sig *sigs = NULL;
    size_t n_keys = 0, n_sigs = 0;
    const char *device_id;
    json_t *dev;

    if (store_xsign_keys_get(r->hs->store, user_id, &keys, &n_keys) != STORE_OK)
        return -1;
    if (store_xsign_sigs_get(r->hs->store, user_id, r->user_id, &sigs, &n_sigs) != STORE_OK) {
        store_xsign_keys_free(keys, n_keys);
        return -1;
    }
    json_object_foreach(devices, device_id, dev)
    {
        merge_sigs(dev, sigs, n_sigs, device_id);
    }
    for (size_t i = 0; i < n_keys; i++) {
        const char *field = NULL;
        json_t *k;
        if (strcmp(keys[i].key_type, "master") == 0)
            field = "master_keys";
        else if (strcmp(keys[i].key_type, "self_signing") == 0)
            field = "self_signing_keys";
        /* SPEC: keys.yaml: user_signing_keys holds only "the user that made the request". */
        else if (strcmp(keys[i].key_type, "user_signing") == 0 && strcmp(user_id, r->user_id) == 0)
            field = "user_signing_keys";
        if (!field || !(k = json_loads(keys[i].key_json, 0, NULL)))
            continue;
        merge_sigs(k, sigs, n_sigs, keys[i].public_key);
        json_object_set_new(json_object_get(result, field), user_id, k);
    }
    store_xsign_keys_free(keys, n_keys);
    store_xsign_sigs_free(sigs, n_sigs);
    return 0;
}
