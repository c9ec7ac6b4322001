#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/util.h"
#include "json/canonical.h"
#include "room/event.h"
#include "room/redact.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SPEC: appendices/test_vectors "Signing Key" */
static void
spec_key(struct signing_key *k)
{
    unsigned char seed[32];
    size_t n = 0;

    assert_int_equal(
        util_base64_decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1", seed, sizeof(seed), &n),
        0);
    assert_int_equal(n, 32);
    memset(k, 0, sizeof(*k));
    snprintf(k->key_id, sizeof(k->key_id), "ed25519:1");
    assert_int_equal(crypto_sign_seed_keypair(k->public_key, k->secret_key, seed), 0);
}

static json_t *
parse(const char *s)
{
    json_error_t err;
    json_t *v = json_loads(s, 0, &err);
    if (!v)
        print_error("fixture not JSON: %s: %s\n", err.text, s);
    assert_non_null(v);
    return v;
}

/* Both as canonical JSON: the same bytes. */
static void
assert_json_equal(const json_t *got, const char *want_text)
{
    json_t *want = parse(want_text);
    char *a = json_canonical(got, true, NULL), *b = json_canonical(want, true, NULL);

    assert_non_null(a);
    assert_non_null(b);
    if (strcmp(a, b) != 0)
        print_error("got  %s\nwant %s\n", a, b);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(want);
}

/* SPEC: rooms/v1..v6: what each version changes. */
static void
test_version_table(void **state)
{
    (void)state;
    static const struct {
        const char *id;
        enum event_id_format fmt;
        bool aliases, strict, notif;
    } want[] = {
        {"1", EVID_SERVER, true, false, false},       {"2", EVID_SERVER, true, false, false},
        {"3", EVID_HASH_BASE64, true, false, false},  {"4", EVID_HASH_URLSAFE, true, false, false},
        {"5", EVID_HASH_URLSAFE, true, false, false}, {"6", EVID_HASH_URLSAFE, false, true, true},
        {"7", EVID_HASH_URLSAFE, false, true, true},
    };
    size_t n = 0;

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct room_version *v = room_version_get(want[i].id);
        assert_non_null(v);
        assert_ptr_equal(v, room_version_at(i));
        assert_string_equal(v->id, want[i].id);
        assert_int_equal(v->event_id_format, want[i].fmt);
        assert_int_equal(v->special_case_aliases, want[i].aliases);
        assert_int_equal(v->strict_canonical_json, want[i].strict);
        assert_int_equal(v->limit_notifications_pl, want[i].notif);
        assert_int_equal(v->state_res_v2, i >= 1);
        assert_int_equal(v->enforce_key_validity, i >= 4);
        assert_false(v->integer_power_levels_only);
        assert_false(v->notifications_pl_redacted);
        /* SPEC: v1.1 rooms/v7: knocking is new in v7. */
        assert_int_equal(v->knocking, i >= 6);
    }
    while (room_version_at(n))
        n++;
    assert_int_equal(n, 7);
    /* SPEC: v1.1: versions 8 and 9 came later (v1.2). */
    assert_null(room_version_get("8"));
    assert_null(room_version_get(""));
    assert_null(room_version_get("1 "));
    assert_null(room_version_get(NULL));
    assert_non_null(room_version_get(ROOM_VERSION_DEFAULT));
}

/* SPEC: test_vectors "JSON Signing": the empty object. */
static void
test_sign_empty_object(void **state)
{
    (void)state;
    struct signing_key k;
    json_t *o = json_object();

    spec_key(&k);
    assert_int_equal(json_sign(o, "domain", &k), 0);
    assert_json_equal(o, "{\"signatures\":{\"domain\":{\"ed25519:1\":\"K8280/"
                         "U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/"
                         "7Xg4ahLwYGYZzuHGZKM5ZAQ\"}}}");
    assert_true(json_verify(o, "domain", "ed25519:1", k.public_key));
    assert_false(json_verify(o, "other", "ed25519:1", k.public_key));
    assert_false(json_verify(o, "domain", "ed25519:2", k.public_key));
    json_object_set_new(o, "x", json_true());
    assert_false(json_verify(o, "domain", "ed25519:1", k.public_key));
    json_decref(o);
}

/* SPEC: test_vectors "JSON Signing": the object with data; unsigned is not covered. */
static void
test_sign_object_with_data(void **state)
{
    (void)state;
    struct signing_key k;
    json_t *o = parse("{\"one\":1,\"two\":\"Two\"}");

    spec_key(&k);
    assert_int_equal(json_sign(o, "domain", &k), 0);
    assert_json_equal(o, "{\"one\":1,\"signatures\":{\"domain\":{\"ed25519:1\":"
                         "\"KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/"
                         "fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw\"}},\"two\":\"Two\"}");
    json_object_set_new(o, "unsigned", parse("{\"age_ts\":5}"));
    assert_true(json_verify(o, "domain", "ed25519:1", k.public_key));
    /* Signing again with unsigned present gives the same signature. */
    assert_int_equal(json_sign(o, "domain", &k), 0);
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(o, "signatures"), "domain"), "ed25519:1")),
        "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/"
        "fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw");
    json_decref(o);
}

static const char vector_event1_in[] =
    "{\"room_id\":\"!x:domain\",\"sender\":\"@a:domain\",\"origin\":\"domain\","
    "\"origin_server_ts\":1000000,\"signatures\":{},\"hashes\":{},\"type\":\"X\","
    "\"content\":{},\"prev_events\":[],\"auth_events\":[],\"depth\":3,"
    "\"unsigned\":{\"age_ts\":1000000}}";
static const char vector_event1_out[] =
    "{\"auth_events\":[],\"content\":{},\"depth\":3,\"hashes\":{\"sha256\":"
    "\"5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos\"},\"origin\":\"domain\","
    "\"origin_server_ts\":1000000,\"prev_events\":[],\"room_id\":\"!x:domain\","
    "\"sender\":\"@a:domain\",\"signatures\":{\"domain\":{\"ed25519:1\":"
    "\"KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+"
    "lYAg\"}},\"type\":\"X\",\"unsigned\":{\"age_ts\":1000000}}";
static const char vector_event2_in[] =
    "{\"content\":{\"body\":\"Here is the message content\"},\"event_id\":\"$0:domain\","
    "\"origin\":\"domain\",\"origin_server_ts\":1000000,\"type\":\"m.room.message\","
    "\"room_id\":\"!r:domain\",\"sender\":\"@u:domain\",\"signatures\":{},"
    "\"unsigned\":{\"age_ts\":1000000}}";
static const char vector_event2_out[] =
    "{\"content\":{\"body\":\"Here is the message content\"},\"event_id\":\"$0:domain\","
    "\"hashes\":{\"sha256\":\"onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g\"},"
    "\"origin\":\"domain\",\"origin_server_ts\":1000000,\"type\":\"m.room.message\","
    "\"room_id\":\"!r:domain\",\"sender\":\"@u:domain\",\"signatures\":{\"domain\":{"
    "\"ed25519:1\":\"Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMG"
    "CA5McEiVPdhzBA\"}},\"unsigned\":{\"age_ts\":1000000}}";

/* SPEC: test_vectors "Event Signing": both events, byte for byte. */
static void
test_sign_event_vectors(void **state)
{
    (void)state;
    const struct room_version *v1 = room_version_get("1");
    struct signing_key k;
    const char *in[] = {vector_event1_in, vector_event2_in};
    const char *out[] = {vector_event1_out, vector_event2_out};

    spec_key(&k);
    for (size_t i = 0; i < 2; i++) {
        json_t *ev = parse(in[i]);
        char *hash = event_content_hash(ev, v1);
        json_t *want = parse(out[i]);

        assert_non_null(hash);
        assert_string_equal(
            hash, json_string_value(json_object_get(json_object_get(want, "hashes"), "sha256")));
        free(hash);
        assert_int_equal(event_hash_and_sign(ev, v1, "domain", &k), 0);
        assert_json_equal(ev, out[i]);
        assert_true(event_verify(ev, v1, "domain", "ed25519:1", k.public_key));
        json_decref(want);
        json_decref(ev);
    }
}

static void
test_verify_rejects_tampering(void **state)
{
    (void)state;
    const struct room_version *v1 = room_version_get("1");
    struct signing_key k;
    json_t *ev, *red;
    unsigned char other_pk[32];

    spec_key(&k);
    ev = parse(vector_event2_out);
    assert_true(event_verify(ev, v1, "domain", "ed25519:1", k.public_key));
    /* The wrong key, server or key id. */
    memcpy(other_pk, k.public_key, 32);
    other_pk[0] ^= 1;
    assert_false(event_verify(ev, v1, "domain", "ed25519:1", other_pk));
    assert_false(event_verify(ev, v1, "elsewhere", "ed25519:1", k.public_key));
    assert_false(event_verify(ev, v1, "domain", "ed25519:0", k.public_key));
    /* The redacted copy still carries a good signature but fails the content hash. */
    red = redact_event(ev, v1);
    assert_false(event_verify(red, v1, "domain", "ed25519:1", k.public_key));
    json_decref(red);
    /* unsigned may change freely. */
    json_object_set_new(ev, "unsigned", parse("{\"age\":1}"));
    assert_true(event_verify(ev, v1, "domain", "ed25519:1", k.public_key));
    /* Non-essential content: the signature holds, the hash does not. */
    json_object_set_new(json_object_get(ev, "content"), "body", json_string("changed"));
    assert_false(event_verify(ev, v1, "domain", "ed25519:1", k.public_key));
    json_decref(ev);
    /* Essential keys: the signature breaks. */
    ev = parse(vector_event2_out);
    json_object_set_new(ev, "sender", json_string("@v:domain"));
    assert_false(event_verify(ev, v1, "domain", "ed25519:1", k.public_key));
    json_object_set_new(ev, "signatures", json_string("nonsense"));
    assert_false(event_verify(ev, v1, "domain", "ed25519:1", k.public_key));
    json_object_del(ev, "hashes");
    assert_false(event_verify(ev, v1, "domain", "ed25519:1", k.public_key));
    json_decref(ev);
}

/* SPEC: server_server_api "Calculating the reference hash"; rooms/v3 and v4 event IDs. The
 * expected hash was computed independently (Python hashlib over the redacted event). */
static void
test_reference_hash_and_ids(void **state)
{
    (void)state;
    json_t *ev = parse(vector_event2_out);
    char *s;

    s = event_reference_hash(ev, room_version_get("3"), false);
    assert_string_equal(s, "oFAil2fHTGY66j9PIsC3hnc+/6r2SQGxCzd1/FUgtOE");
    free(s);
    s = event_reference_hash(ev, room_version_get("4"), true);
    assert_string_equal(s, "oFAil2fHTGY66j9PIsC3hnc-_6r2SQGxCzd1_FUgtOE");
    free(s);
    /* Non-essential content and unsigned do not change it. */
    json_object_set_new(json_object_get(ev, "content"), "body", json_string("other"));
    json_object_set_new(ev, "unsigned", parse("{\"age_ts\":1}"));
    json_object_set_new(ev, "age_ts", json_integer(7));
    s = event_id_of(ev, room_version_get("3"));
    assert_string_equal(s, "$oFAil2fHTGY66j9PIsC3hnc+/6r2SQGxCzd1/FUgtOE");
    free(s);
    for (const char *const *id = (const char *const[]){"4", "5", "6", NULL}; *id; id++) {
        s = event_id_of(ev, room_version_get(*id));
        assert_string_equal(s, "$oFAil2fHTGY66j9PIsC3hnc-_6r2SQGxCzd1_FUgtOE");
        free(s);
    }
    /* v1/v2: the event_id field. */
    s = event_id_of(ev, room_version_get("1"));
    assert_string_equal(s, "$0:domain");
    free(s);
    s = event_id_of(ev, room_version_get("2"));
    assert_string_equal(s, "$0:domain");
    free(s);
    json_object_del(ev, "event_id");
    assert_null(event_id_of(ev, room_version_get("1")));
    json_decref(ev);
    assert_null(event_id_of(NULL, room_version_get("4")));
}

static json_t *
new_event(const struct room_version *v, const char *type, const char *state_key)
{
    json_t *ev = json_object();
    const char *ids[] = {"$create:example.org"};
    json_t *h = parse("{\"sha256\":\"abc\"}");
    const json_t *hashes[] = {h};

    json_object_set_new(ev, "room_id", json_string("!room:example.org"));
    json_object_set_new(ev, "sender", json_string("@alice:example.org"));
    json_object_set_new(ev, "type", json_string(type));
    if (state_key)
        json_object_set_new(ev, "state_key", json_string(state_key));
    json_object_set_new(ev, "content", parse("{\"body\":\"hi\",\"n\":1}"));
    json_object_set_new(ev, "origin_server_ts", json_integer(1600000000000));
    json_object_set_new(ev, "depth", json_integer(2));
    json_object_set_new(ev, "prev_events", event_refs_for_version(v, ids, hashes, 1));
    json_object_set_new(ev, "auth_events", event_refs_for_version(v, ids, hashes, 1));
    json_decref(h);
    return ev;
}

/* event_finish for every version: hashes, signature, origin, and the ID of its format. */
static void
test_finish_each_version(void **state)
{
    (void)state;
    struct signing_key k;
    const struct room_version *v;

    spec_key(&k);
    for (size_t i = 0; (v = room_version_at(i)) != NULL; i++) {
        json_t *ev = new_event(v, "m.room.message", NULL);
        enum event_error err = EVENT_INVALID;
        char reason[128] = "";
        char *id = event_finish_checked(ev, v, "example.org", &k, &err, reason, sizeof(reason));
        char *again;

        if (!id)
            print_error("v%s: %s\n", v->id, reason);
        assert_non_null(id);
        assert_int_equal(err, EVENT_OK);
        assert_true(event_verify(ev, v, "example.org", "ed25519:1", k.public_key));
        assert_string_equal(json_string_value(json_object_get(ev, "origin")), "example.org");
        assert_true(id[0] == '$');
        if (v->event_id_format == EVID_SERVER) {
            size_t n = strlen(id);
            assert_true(n > 13 && strcmp(id + n - 12, ":example.org") == 0);
            assert_string_equal(json_string_value(json_object_get(ev, "event_id")), id);
        } else {
            char *ref = event_reference_hash(ev, v, v->event_id_format == EVID_HASH_URLSAFE);
            assert_null(json_object_get(ev, "event_id"));
            assert_int_equal(strlen(id), 44);
            assert_string_equal(id + 1, ref);
            free(ref);
        }
        again = event_id_of(ev, v);
        assert_string_equal(id, again);
        free(again);
        free(id);
        json_decref(ev);
    }
}

struct finish_case {
    const char *version;
    const char *field; /* replaced in new_event's output; NULL: deleted when value NULL */
    const char *value; /* JSON, or NULL to delete the field */
    enum event_error want;
};

static void
test_finish_refusals(void **state)
{
    (void)state;
    static char long_str[300];
    static char long_json[310];
    struct signing_key k;
    const struct finish_case cases[] = {
        {"1", "room_id", NULL, EVENT_INVALID},
        {"3", "sender", "5", EVENT_INVALID},
        {"6", "type", NULL, EVENT_INVALID},
        {"4", "content", "[]", EVENT_INVALID},
        {"5", "origin_server_ts", "\"1\"", EVENT_INVALID},
        {"5", "depth", "1.5", EVENT_INVALID},
        {"2", "prev_events", "[\"$a:b\"]", EVENT_INVALID},    /* v2 wants pairs */
        {"3", "prev_events", "[[\"$a\",{}]]", EVENT_INVALID}, /* v3 wants IDs */
        {"4", "auth_events", "{}", EVENT_INVALID},
        {"1", "state_key", "7", EVENT_INVALID},
        {"3", "event_id", "\"$x\"", EVENT_INVALID},
        /* SPEC: rooms/v6 canonical JSON: no floats; v1-5 take them */
        {"6", "content", "{\"f\":1.5}", EVENT_BAD_JSON},
        {"6", "content", "{\"a\":[{\"f\":0.5}]}", EVENT_BAD_JSON},
        {"5", "content", "{\"f\":1.5}", EVENT_OK},
        {"1", "content", "{\"f\":1.5}", EVENT_OK},
        {"5", "content", "{\"big\":9007199254740992}", EVENT_BAD_JSON},
        {"6", "content", "{\"big\":-9007199254740992}", EVENT_BAD_JSON},
        /* SPEC: client_server_api "Size limits" per key */
        {"1", "type", long_json, EVENT_TOO_LARGE},
        {"4", "state_key", long_json, EVENT_TOO_LARGE},
        {"6", "room_id", long_json, EVENT_TOO_LARGE},
        {"2", "sender", long_json, EVENT_TOO_LARGE},
        {"1", "event_id", long_json, EVENT_TOO_LARGE},
    };

    memset(long_str, 'x', 256);
    long_str[256] = '\0';
    snprintf(long_json, sizeof(long_json), "\"%s\"", long_str);
    spec_key(&k);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct finish_case *c = &cases[i];
        const struct room_version *v = room_version_get(c->version);
        json_t *ev = new_event(v, "m.room.message", NULL);
        enum event_error err = EVENT_OK;
        char reason[128] = "";
        char *id;

        if (c->value)
            json_object_set_new(ev, c->field, json_loads(c->value, JSON_DECODE_ANY, NULL));
        else
            json_object_del(ev, c->field);
        id = event_finish_checked(ev, v, "example.org", &k, &err, reason, sizeof(reason));
        if (err != c->want)
            print_error("case %zu: err %d want %d (%s)\n", i, err, c->want, reason);
        assert_int_equal(err, c->want);
        if (c->want == EVENT_OK) {
            assert_non_null(id);
        } else {
            assert_null(id);
            assert_true(reason[0] != '\0');
        }
        free(id);
        json_decref(ev);
    }
}

/* SPEC: "The complete event MUST NOT be larger than 65536 bytes" (see EVENT_MAX_BYTES). */
static void
test_finish_total_size(void **state)
{
    (void)state;
    const struct room_version *v = room_version_get("5");
    struct signing_key k;
    size_t fill = 64000, lo, hi;
    char reason[128];

    spec_key(&k);
    /* Find the largest body that fits by bisection: the limit is exact. */
    lo = 0;
    hi = 70000;
    while (lo + 1 < hi) {
        size_t mid = (lo + hi) / 2;
        json_t *ev = new_event(v, "m.room.message", NULL);
        char *body = xmalloc(mid + 1), *id, *canon;
        size_t len;

        memset(body, 'a', mid);
        body[mid] = '\0';
        json_object_set_new(ev, "content", json_pack("{s:s}", "body", body));
        id = event_finish(ev, v, "example.org", &k, reason, sizeof(reason));
        if (id) {
            canon = json_canonical(ev, false, &len);
            assert_true(len <= EVENT_MAX_BYTES);
            free(canon);
            lo = mid;
        } else {
            hi = mid;
        }
        free(id);
        free(body);
        json_decref(ev);
    }
    assert_true(lo > fill);
    {
        json_t *ev = new_event(v, "m.room.message", NULL);
        char *body = xmalloc(lo + 2), *id, *canon;
        size_t len;
        enum event_error err;

        memset(body, 'a', lo);
        body[lo] = '\0';
        json_object_set_new(ev, "content", json_pack("{s:s}", "body", body));
        id = event_finish_checked(ev, v, "example.org", &k, &err, reason, sizeof(reason));
        assert_non_null(id);
        canon = json_canonical(ev, false, &len);
        assert_int_equal(len, EVENT_MAX_BYTES);
        free(canon);
        free(id);
        json_decref(ev);
        ev = new_event(v, "m.room.message", NULL);
        body[lo] = 'a';
        body[lo + 1] = '\0';
        json_object_set_new(ev, "content", json_pack("{s:s}", "body", body));
        id = event_finish_checked(ev, v, "example.org", &k, &err, reason, sizeof(reason));
        assert_null(id);
        assert_int_equal(err, EVENT_TOO_LARGE);
        free(body);
        json_decref(ev);
    }
}

static void
test_refs_for_version(void **state)
{
    (void)state;
    const char *ids[] = {"$a:x", "$b:x"};
    json_t *h = parse("{\"sha256\":\"AAA\"}");
    const json_t *hashes[] = {h, NULL};
    json_t *r;

    r = event_refs_for_version(room_version_get("1"), ids, hashes, 2);
    assert_json_equal(r, "[[\"$a:x\",{\"sha256\":\"AAA\"}],[\"$b:x\",{}]]");
    json_decref(r);
    r = event_refs_for_version(room_version_get("2"), ids, NULL, 1);
    assert_json_equal(r, "[[\"$a:x\",{}]]");
    json_decref(r);
    r = event_refs_for_version(room_version_get("3"), ids, hashes, 2);
    assert_json_equal(r, "[\"$a:x\",\"$b:x\"]");
    json_decref(r);
    r = event_refs_for_version(room_version_get("6"), ids, NULL, 0);
    assert_json_equal(r, "[]");
    json_decref(r);
    json_decref(h);
}

/* SPEC: client_server_api "Room Events": what a client sees of a stored event. */
static void
test_client_format(void **state)
{
    (void)state;
    json_t *ev =
        parse("{\"auth_events\":[],\"content\":{\"reason\":\"spam\"},\"depth\":9,"
              "\"hashes\":{\"sha256\":\"x\"},\"origin\":\"example.org\",\"origin_server_ts\":5,"
              "\"prev_events\":[],\"redacts\":\"$target\",\"room_id\":\"!r:example.org\","
              "\"sender\":\"@a:example.org\",\"signatures\":{},\"type\":\"m.room.redaction\","
              "\"unsigned\":{\"age\":3}}");
    json_t *c = event_client_format(ev, "$computed");

    assert_json_equal(c, "{\"content\":{\"reason\":\"spam\"},\"event_id\":\"$computed\","
                         "\"origin_server_ts\":5,\"redacts\":\"$target\",\"room_id\":"
                         "\"!r:example.org\",\"sender\":\"@a:example.org\",\"type\":"
                         "\"m.room.redaction\",\"unsigned\":{\"age\":3}}");
    /* unsigned is the client's own copy. */
    json_object_set_new(json_object_get(c, "unsigned"), "age", json_integer(99));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(ev, "unsigned"), "age")),
                     3);
    json_decref(c);
    /* A state event keeps state_key (even empty); v1 events name their own ID. */
    json_object_del(ev, "redacts");
    json_object_del(ev, "unsigned");
    json_object_set_new(ev, "type", json_string("m.room.topic"));
    json_object_set_new(ev, "state_key", json_string(""));
    json_object_set_new(ev, "event_id", json_string("$own:example.org"));
    c = event_client_format(ev, NULL);
    assert_json_equal(c, "{\"content\":{\"reason\":\"spam\"},\"event_id\":\"$own:example.org\","
                         "\"origin_server_ts\":5,\"room_id\":\"!r:example.org\",\"sender\":"
                         "\"@a:example.org\",\"state_key\":\"\",\"type\":\"m.room.topic\"}");
    json_decref(c);
    json_decref(ev);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_table),
        cmocka_unit_test(test_sign_empty_object),
        cmocka_unit_test(test_sign_object_with_data),
        cmocka_unit_test(test_sign_event_vectors),
        cmocka_unit_test(test_verify_rejects_tampering),
        cmocka_unit_test(test_reference_hash_and_ids),
        cmocka_unit_test(test_finish_each_version),
        cmocka_unit_test(test_finish_refusals),
        cmocka_unit_test(test_finish_total_size),
        cmocka_unit_test(test_refs_for_version),
        cmocka_unit_test(test_client_format),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
