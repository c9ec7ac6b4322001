#include "room/event.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "json/canonical.h"
#include "room/redact.h"

static char *
b64(const unsigned char *data, size_t len, bool urlsafe)
{
    int variant = urlsafe ? sodium_base64_VARIANT_URLSAFE_NO_PADDING
                          : sodium_base64_VARIANT_ORIGINAL_NO_PADDING;
    size_t cap = sodium_base64_ENCODED_LEN(len, variant);
    char *out = xmalloc(cap);
    sodium_bin2base64(out, cap, data, len, variant);
    return out;
}

/* A shallow copy of obj without the named keys (NULL-terminated list). */
static json_t *
without(const json_t *obj, const char *const *keys)
{
    json_t *c = json_copy((json_t *)obj);
    for (size_t i = 0; keys[i]; i++)
        json_object_del(c, keys[i]);
    return c;
}

static bool
allow_floats(const struct room_version *v)
{
    return !v->strict_canonical_json;
}

/* SPEC: server_server_api "Calculating the content hash for an event": "any existing unsigned,
 * signature, and hashes members are removed. The resulting object is then encoded as
 * Canonical JSON, and the JSON is hashed using SHA-256." */
static bool
content_hash(const json_t *ev, const struct room_version *v,
             unsigned char out[crypto_hash_sha256_BYTES])
{
    static const char *const strip[] = {"unsigned", "signatures", "hashes", NULL};
    json_t *c = without(ev, strip);
    size_t len;
    char *s = json_canonical(c, allow_floats(v), &len);

    json_decref(c);
    if (!s)
        return false;
    crypto_hash_sha256(out, (const unsigned char *)s, len);
    free(s);
    return true;
}

/* SPEC: signing_json "Signing Details": "encoding the JSON object without signatures or keys
 * grouped as unsigned, using the canonical encoding". New string or NULL. */
static char *
signing_bytes(const json_t *obj, bool floats, size_t *len)
{
    static const char *const strip[] = {"signatures", "unsigned", NULL};
    json_t *c = without(obj, strip);
    char *s = json_canonical(c, floats, len);
    json_decref(c);
    return s;
}

/* Signs msg and sets signatures.<server_name>.<key_id> in target. */
static void
sign_bytes_into(json_t *target, const char *msg, size_t len, const char *server_name,
                const struct signing_key *key)
{
    unsigned char sig[crypto_sign_BYTES];
    json_t *sigs, *mine;
    char *enc;

    crypto_sign_detached(sig, NULL, (const unsigned char *)msg, len, key->secret_key);
    enc = b64(sig, sizeof(sig), false);
    sigs = json_object_get(target, "signatures");
    if (!json_is_object(sigs)) {
        sigs = json_object();
        json_object_set_new(target, "signatures", sigs);
    }
    mine = json_object_get(sigs, server_name);
    if (!json_is_object(mine)) {
        mine = json_object();
        json_object_set_new(sigs, server_name, mine);
    }
    json_object_set_new(mine, key->key_id, json_string(enc));
    free(enc);
}

static int
sign_into(json_t *target, const json_t *signed_obj, bool floats, const char *server_name,
          const struct signing_key *key)
{
    size_t len;
    char *msg = signing_bytes(signed_obj, floats, &len);

    if (!msg)
        return -1;
    sign_bytes_into(target, msg, len, server_name, key);
    free(msg);
    return 0;
}

int
json_sign(json_t *obj, const char *server_name, const struct signing_key *key)
{
    if (!json_is_object(obj))
        return -1;
    return sign_into(obj, obj, true, server_name, key);
}

/* Decodes unpadded base64 in either alphabet (standard first) into exactly `want` bytes. */
static bool
decode_b64(const char *s, unsigned char *out, size_t want)
{
    size_t n = 0;
    char *std;
    bool ok;

    if (!s)
        return false;
    if (util_base64_decode(s, out, want, &n) == 0 && n == want)
        return true;
    std = xstrdup(s);
    for (char *p = std; *p; p++) {
        if (*p == '-')
            *p = '+';
        else if (*p == '_')
            *p = '/';
    }
    ok = util_base64_decode(std, out, want, &n) == 0 && n == want;
    free(std);
    return ok;
}

static bool
verify_bytes(const json_t *obj, bool floats, const char *server_name, const char *key_id,
             const unsigned char pk[32])
{
    unsigned char sig[crypto_sign_BYTES];
    const char *enc;
    size_t len;
    char *msg;
    bool ok;

    /* SPEC: signing_json "Checking for a Signature" 1, 4-7 */
    enc = json_string_value(
        json_object_get(json_object_get(json_object_get(obj, "signatures"), server_name), key_id));
    if (!enc || !decode_b64(enc, sig, sizeof(sig)))
        return false;
    msg = signing_bytes(obj, floats, &len);
    if (!msg)
        return false;
    ok = crypto_sign_verify_detached(sig, (const unsigned char *)msg, len, pk) == 0;
    free(msg);
    return ok;
}

bool
json_verify(const json_t *obj, const char *server_name, const char *key_id,
            const unsigned char pk[32])
{
    if (!json_is_object(obj) || !server_name || !key_id)
        return false;
    return verify_bytes(obj, true, server_name, key_id, pk);
}

char *
event_content_hash(const json_t *ev, const struct room_version *v)
{
    unsigned char h[crypto_hash_sha256_BYTES];

    if (!json_is_object(ev) || !content_hash(ev, v, h))
        return NULL;
    return b64(h, sizeof(h), false);
}

/* SPEC: server_server_api "Calculating the reference hash for an event" 1-4 */
static bool
reference_hash(const json_t *ev, const struct room_version *v,
               unsigned char out[crypto_hash_sha256_BYTES])
{
    json_t *r = redact_event(ev, v);
    size_t len;
    char *s;

    json_object_del(r, "signatures");
    json_object_del(r, "age_ts");
    json_object_del(r, "unsigned");
    s = json_canonical(r, allow_floats(v), &len);
    json_decref(r);
    if (!s)
        return false;
    crypto_hash_sha256(out, (const unsigned char *)s, len);
    free(s);
    return true;
}

char *
event_reference_hash(const json_t *ev, const struct room_version *v, bool urlsafe)
{
    unsigned char h[crypto_hash_sha256_BYTES];

    if (!json_is_object(ev) || !reference_hash(ev, v, h))
        return NULL;
    return b64(h, sizeof(h), urlsafe);
}

/* SPEC: server_server_api "The hash is encoded using Unpadded Base64 and stored in the
 * event object, in a hashes object, under a sha256 key." */
static void
set_hashes(json_t *ev, const unsigned char h[crypto_hash_sha256_BYTES])
{
    char *enc = b64(h, crypto_hash_sha256_BYTES, false);
    json_object_set_new(ev, "hashes", json_pack("{s:s}", "sha256", enc));
    free(enc);
}

int
event_hash_and_sign(json_t *ev, const struct room_version *v, const char *server_name,
                    const struct signing_key *key)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    json_t *redacted;
    int rc;

    if (!json_is_object(ev) || !content_hash(ev, v, h))
        return -1;
    set_hashes(ev, h);
    /* SPEC: "The event object is then redacted ... Finally it is signed ... The signature is
     * then copied back to the original event object." */
    redacted = redact_event(ev, v);
    rc = sign_into(ev, redacted, allow_floats(v), server_name, key);
    json_decref(redacted);
    return rc;
}

char *
event_id_of(const json_t *ev, const struct room_version *v)
{
    const char *id;
    char *hash, *out;

    if (!json_is_object(ev) || !v)
        return NULL;
    if (v->event_id_format == EVID_SERVER) {
        id = json_string_value(json_object_get(ev, "event_id"));
        return id ? xstrdup(id) : NULL;
    }
    /* SPEC: rooms/v3 "The event ID is the reference hash of the event encoded using Unpadded
     * Base64, prefixed with $"; rooms/v4 "replaces the 62nd and 63rd characters with - and _" */
    hash = event_reference_hash(ev, v, v->event_id_format == EVID_HASH_URLSAFE);
    if (!hash)
        return NULL;
    out = xasprintf("$%s", hash);
    free(hash);
    return out;
}

json_t *
event_refs_for_version(const struct room_version *v, const char *const *ids,
                       const json_t *const *hashes, size_t n)
{
    json_t *out = json_array();

    for (size_t i = 0; i < n; i++) {
        if (v->event_id_format != EVID_SERVER) {
            /* SPEC: rooms/v3 "Instead of a tuple of values, they are now plain lists of
             * events." */
            json_array_append_new(out, json_string(ids[i]));
            continue;
        }
        json_t *pair = json_array();
        json_t *h = hashes && json_is_object(hashes[i]) ? json_deep_copy(hashes[i]) : json_object();
        json_array_append_new(pair, json_string(ids[i]));
        json_array_append_new(pair, h);
        json_array_append_new(out, pair);
    }
    return out;
}

bool
event_verify(const json_t *ev, const struct room_version *v, const char *server_name,
             const char *key_id, const unsigned char pk[32])
{
    unsigned char want[crypto_hash_sha256_BYTES], got[crypto_hash_sha256_BYTES];
    json_t *redacted;
    bool ok;

    if (!json_is_object(ev) || !server_name || !key_id)
        return false;
    /* SPEC: server_server_api "The event is redacted following the redaction algorithm, and
     * the resultant object is checked for a signature from the originating server" */
    redacted = redact_event(ev, v);
    ok = verify_bytes(redacted, allow_floats(v), server_name, key_id, pk);
    json_decref(redacted);
    if (!ok)
        return false;
    /* SPEC: "The content hash in the hashes property of the received event is base64-decoded,
     * and the two are compared for equality." */
    if (!decode_b64(json_string_value(json_object_get(json_object_get(ev, "hashes"), "sha256")),
                    got, sizeof(got)))
        return false;
    if (!content_hash(ev, v, want))
        return false;
    return sodium_memcmp(want, got, sizeof(want)) == 0;
}

/* ---- building a new event ---- */

static bool
fail(enum event_error *err, enum event_error kind, char *reason, size_t reasonlen, const char *msg)
{
    if (err)
        *err = kind;
    snprintf(reason, reasonlen, "%s", msg);
    return false;
}

static bool
check_refs(const json_t *refs, const struct room_version *v, const char *name,
           enum event_error *err, char *reason, size_t reasonlen)
{
    char msg[128];
    size_t i;
    json_t *r;

    snprintf(msg, sizeof(msg), "%s is not in the format of room version %s", name, v->id);
    if (!json_is_array(refs))
        return fail(err, EVENT_INVALID, reason, reasonlen, msg);
    json_array_foreach(refs, i, r)
    {
        if (v->event_id_format == EVID_SERVER) {
            /* SPEC: pdu.yaml prev_events items: [event ID, {"sha256": ...}] */
            if (!json_is_array(r) || json_array_size(r) != 2 ||
                !json_is_string(json_array_get(r, 0)) || !json_is_object(json_array_get(r, 1)))
                return fail(err, EVENT_INVALID, reason, reasonlen, msg);
        } else if (!json_is_string(r)) {
            return fail(err, EVENT_INVALID, reason, reasonlen, msg);
        }
    }
    return true;
}

/* SPEC: client_server_api "Size limits": sender, room_id, state_key, type, event_id "MUST NOT
 * exceed 255 bytes" (EVENT_MAX_FIELD). */
static bool
check_field_limits(const json_t *ev, enum event_error *err, char *reason, size_t reasonlen)
{
    static const char *const fields[] = {"sender", "room_id", "state_key", "type", "event_id"};

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        json_t *f = json_object_get(ev, fields[i]);
        if (f && json_is_string(f) && json_string_length(f) > EVENT_MAX_FIELD) {
            char msg[80];
            snprintf(msg, sizeof(msg), "'%s' is longer than %d bytes", fields[i], EVENT_MAX_FIELD);
            return fail(err, EVENT_TOO_LARGE, reason, reasonlen, msg);
        }
    }
    return true;
}

static bool
check_shape(const json_t *ev, const struct room_version *v, enum event_error *err, char *reason,
            size_t reasonlen)
{
    static const char *const strings[] = {"room_id", "sender", "type"};
    json_t *sk = json_object_get(ev, "state_key");

    if (!json_is_object(ev))
        return fail(err, EVENT_INVALID, reason, reasonlen, "event is not an object");
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        if (!json_is_string(json_object_get(ev, strings[i]))) {
            char msg[64];
            snprintf(msg, sizeof(msg), "'%s' missing or not a string", strings[i]);
            return fail(err, EVENT_INVALID, reason, reasonlen, msg);
        }
    }
    if (sk && !json_is_string(sk))
        return fail(err, EVENT_INVALID, reason, reasonlen, "'state_key' is not a string");
    if (!json_is_object(json_object_get(ev, "content")))
        return fail(err, EVENT_INVALID, reason, reasonlen, "'content' is not an object");
    if (!json_is_integer(json_object_get(ev, "origin_server_ts")))
        return fail(err, EVENT_INVALID, reason, reasonlen, "'origin_server_ts' not an integer");
    if (!json_is_integer(json_object_get(ev, "depth")))
        return fail(err, EVENT_INVALID, reason, reasonlen, "'depth' not an integer");
    if (!check_refs(json_object_get(ev, "prev_events"), v, "prev_events", err, reason, reasonlen) ||
        !check_refs(json_object_get(ev, "auth_events"), v, "auth_events", err, reason, reasonlen))
        return false;
    /* v3+ IDs are the hash: a stored event_id key would change it. */
    if (v->event_id_format != EVID_SERVER && json_object_get(ev, "event_id"))
        return fail(err, EVENT_INVALID, reason, reasonlen,
                    "events of this room version carry no 'event_id'");
    return check_field_limits(ev, err, reason, reasonlen);
}

/* The bytes a signature adds to an event's canonical JSON: a comma and
 * "signatures":{"<server>":{"<key_id>":"<86 characters of base64>"}}. Fixed for a server and
 * key, so an event's final size is known before it is signed. */
static size_t
signature_block_len(const char *server_name, const struct signing_key *key)
{
    char fake[87];
    json_t *o;
    char *s;
    size_t len = 0;

    memset(fake, 'A', 86);
    fake[86] = '\0';
    o = json_pack("{s:{s:{s:s}}}", "signatures", server_name, key->key_id, fake);
    s = o ? json_canonical(o, false, &len) : NULL;
    json_decref(o);
    free(s);
    return s ? len - 2 + 1 : EVENT_MAX_BYTES + 1; /* without the braces, with a comma */
}

char *
event_prepare(json_t *ev, const struct room_version *v, const char *server_name,
              const struct signing_key *key, enum event_error *err, char *reason, size_t reasonlen,
              char **signing, size_t *signing_len)
{
    static const char float_msg[] =
        "event holds a float or an integer outside canonical JSON's range";
    static const char int_msg[] = "event holds an integer outside canonical JSON's range";
    unsigned char h[crypto_hash_sha256_BYTES];
    char *canon = NULL, *id = NULL, *bytes = NULL, *enc;
    json_t *redacted;
    size_t len, blen = 0;

    *signing = NULL;
    *signing_len = 0;
    if (err)
        *err = EVENT_INVALID;
    if (!v || !server_name || !key) {
        fail(err, EVENT_INVALID, reason, reasonlen, "bad arguments");
        goto out;
    }
    if (!check_shape(ev, v, err, reason, reasonlen))
        goto out;
    json_object_del(ev, "hashes");
    json_object_del(ev, "signatures");
    /* SPEC: pdu.yaml requires origin: "The server_name of the homeserver that created this
     * event." */
    if (!json_object_get(ev, "origin"))
        json_object_set_new(ev, "origin", json_string(server_name));
    if (v->event_id_format == EVID_SERVER && !json_is_string(json_object_get(ev, "event_id"))) {
        /* SPEC: appendices/identifier_grammar event IDs "$opaque_id:domain" */
        char *opaque =
            util_random_string("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", 18);
        char *eid = xasprintf("$%s:%s", opaque, server_name);
        free(opaque);
        json_object_set_new(ev, "event_id", json_string(eid));
        free(eid);
        if (!check_field_limits(ev, err, reason, reasonlen))
            goto out;
    }
    /* SPEC: rooms/v6 "Servers MUST strictly enforce the JSON format" (floats, integer range);
     * earlier versions still need every integer to fit canonical JSON to be hashed. The
     * content hash covers every field but unsigned, which the full encoding below checks. */
    if (!content_hash(ev, v, h)) {
        fail(err, EVENT_BAD_JSON, reason, reasonlen,
             v->strict_canonical_json ? float_msg : int_msg);
        goto out;
    }
    set_hashes(ev, h);
    /* SPEC: "The event object is then redacted ... Finally it is signed". What is signed, the
     * redacted event without signatures and unsigned, is also exactly what the reference hash
     * hashes (server_server_api "Calculating the reference hash"), so one encoding serves
     * both. */
    redacted = redact_event(ev, v);
    bytes = redacted ? signing_bytes(redacted, allow_floats(v), &blen) : NULL;
    json_decref(redacted);
    if (!bytes) {
        fail(err, EVENT_BAD_JSON, reason, reasonlen, "event cannot be hashed");
        goto out;
    }
    canon = json_canonical(ev, allow_floats(v), &len);
    if (!canon) {
        fail(err, EVENT_BAD_JSON, reason, reasonlen,
             v->strict_canonical_json ? float_msg : int_msg);
        goto out;
    }
    /* SPEC: client_server_api "Size limits" "The complete event MUST NOT be larger than 65535
     * bytes, when formatted as a PDU ... including any signatures, and encoded as Canonical
     * JSON". Synapse and later spec text allow 65536; so does EVENT_MAX_BYTES. */
    if (len + signature_block_len(server_name, key) > EVENT_MAX_BYTES) {
        fail(err, EVENT_TOO_LARGE, reason, reasonlen, "event is larger than 65536 bytes");
        goto out;
    }
    if (v->event_id_format == EVID_SERVER) {
        id = xstrdup(json_string_value(json_object_get(ev, "event_id")));
    } else {
        /* SPEC: rooms/v3 "The event ID is the reference hash of the event encoded using
         * Unpadded Base64, prefixed with $"; rooms/v4 "replaces the 62nd and 63rd characters
         * with - and _" */
        crypto_hash_sha256(h, (const unsigned char *)bytes, blen);
        enc = b64(h, sizeof(h), v->event_id_format == EVID_HASH_URLSAFE);
        id = xasprintf("$%s", enc);
        free(enc);
    }
    if (strlen(id) > EVENT_MAX_FIELD) {
        free(id);
        id = NULL;
        fail(err, EVENT_TOO_LARGE, reason, reasonlen, "'event_id' is longer than 255 bytes");
        goto out;
    }
    *signing = bytes;
    *signing_len = blen;
    bytes = NULL;
    if (err)
        *err = EVENT_OK;
out:
    free(canon);
    free(bytes);
    return id;
}

char *
event_seal(json_t *ev, const struct room_version *v, const char *server_name,
           const struct signing_key *key, const char *signing, size_t signing_len, size_t *text_len)
{
    /* SPEC: "The signature is then copied back to the original event object." */
    sign_bytes_into(ev, signing, signing_len, server_name, key);
    return json_canonical(ev, allow_floats(v), text_len);
}

char *
event_finish_text(json_t *ev, const struct room_version *v, const char *server_name,
                  const struct signing_key *key, enum event_error *err, char *reason,
                  size_t reasonlen, char **text)
{
    size_t blen, tlen;
    char *bytes = NULL, *canon = NULL;
    char *id = event_prepare(ev, v, server_name, key, err, reason, reasonlen, &bytes, &blen);

    if (text)
        *text = NULL;
    if (!id)
        return NULL;
    canon = event_seal(ev, v, server_name, key, bytes, blen, &tlen);
    free(bytes);
    /* event_prepare counted the signature's size; this only guards that arithmetic. */
    if (!canon || tlen > EVENT_MAX_BYTES) {
        free(canon);
        free(id);
        fail(err, EVENT_TOO_LARGE, reason, reasonlen, "event is larger than 65536 bytes");
        return NULL;
    }
    if (text)
        *text = canon;
    else
        free(canon);
    return id;
}

char *
event_finish_checked(json_t *ev, const struct room_version *v, const char *server_name,
                     const struct signing_key *key, enum event_error *err, char *reason,
                     size_t reasonlen)
{
    return event_finish_text(ev, v, server_name, key, err, reason, reasonlen, NULL);
}

char *
event_finish(json_t *ev, const struct room_version *v, const char *server_name,
             const struct signing_key *key, char *reason, size_t reasonlen)
{
    return event_finish_checked(ev, v, server_name, key, NULL, reason, reasonlen);
}

json_t *
event_client_format(const json_t *ev, const char *event_id)
{
    /* SPEC: client_server_api "Room Events": the fields of a ClientEvent. */
    static const char *const shared[] = {"content", "origin_server_ts", "room_id", "sender",
                                         "type",    "state_key",        "redacts"};
    json_t *out = json_object();
    json_t *u;

    if (!json_is_object(ev))
        return out;
    if (!event_id)
        event_id = json_string_value(json_object_get(ev, "event_id"));
    if (event_id)
        json_object_set_new(out, "event_id", json_string(event_id));
    for (size_t i = 0; i < sizeof(shared) / sizeof(shared[0]); i++) {
        json_t *f = json_object_get(ev, shared[i]);
        if (f)
            json_object_set(out, shared[i], f);
    }
    u = json_object_get(ev, "unsigned");
    if (json_is_object(u))
        json_object_set_new(out, "unsigned", json_deep_copy(u));
    return out;
}
