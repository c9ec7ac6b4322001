/* Grouped push evaluation (push_evaluate: what does not depend on the member found once per
 * event and ruleset, names looked up among the body's words) against the definition
 * (push_evaluate_reference: every rule, every condition, per member), over random rulesets
 * (user rules of every kind, disabled and re-enabled defaults, changed actions), events and
 * members (display names, user IDs, invitees). A differential test: both must pick the same
 * rule for every member. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "push/eval.h"
#include "push/rules.h"

static uint64_t rng_state = 0x853c49e6748fea9bULL;

static uint32_t
rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)((rng_state >> 11) % n);
}

#define PICK(a) (a[rnd(sizeof(a) / sizeof(a[0]))])

static const char *const users[] = {
    "@alice:ex.org", "@bob:ex.org",   "@Bob:ex.org", "@carol:ex.org", "@a.b:ex.org",  "@x:ex.org",
    "@bob_2:ex.org", "@smith:ex.org", "@:ex.org",    "nocolon",       "@日本:ex.org", "@al:ex.org",
};
static const char *const names[] = {
    NULL,    "",       "Alice", "bob",   "Bob Smith", "(bob)", "smith", "日本", "a",
    "@room", " lunch", "x-y",   "ALICE", "bob_2",     "al",    "Carol", "a.b",  "bob smith!",
};
static const char *const words[] = {
    "alice",  "bob",   "Alice", "carol", "@room",    "hello", "lunch", "x",   "ALICE",
    "Bob",    "smith", "日本",  "bob_2", "al",       "a.b",   "(bob)", "x-y", "a",
    "lunch?", "b",     "Smith", "carol", "m.notice", "hi",    "@ROOM", "",
};
static const char *const seps[] = {" ", ", ", "!", "", ":", "-", "\\n", " (", ") "};
static const char *const patterns[] = {
    "alice", "bob*",  "*",          "m.room.message", "m.notice",      "m.room.*", "lunch",
    "?ob",   "[ab]*", "@room",      "invite",         "join",          "",         "x",
    "al*e",  "日本",  "!r1:ex.org", "@bob:ex.org",    "m.room.member", "m.text",   "[!a]*",
    "smith",
};
static const char *const keys[] = {
    "type",    "content.body",       "content.msgtype", "state_key", "sender",
    "room_id", "content.membership", "content.foo.bar", "content"};
static const char *const defaults[][2] = {
    {"override", ".m.rule.master"},
    {"override", ".m.rule.suppress_notices"},
    {"override", ".m.rule.invite_for_me"},
    {"override", ".m.rule.member_event"},
    {"override", ".m.rule.contains_display_name"},
    {"override", ".m.rule.tombstone"},
    {"override", ".m.rule.roomnotif"},
    {"content", ".m.rule.contains_user_name"},
    {"underride", ".m.rule.call"},
    {"underride", ".m.rule.encrypted_room_one_to_one"},
    {"underride", ".m.rule.room_one_to_one"},
    {"underride", ".m.rule.message"},
    {"underride", ".m.rule.encrypted"},
};
static const char *const actions[] = {
    "[\"notify\"]",
    "[\"dont_notify\"]",
    "[\"coalesce\"]",
    "[]",
    "[\"notify\",{\"set_tweak\":\"highlight\"}]",
    "[\"notify\",{\"set_tweak\":\"highlight\",\"value\":false}]",
};

static json_t *
random_condition(void)
{
    switch (rnd(8)) {
    case 0:
        return json_pack("{s:s}", "kind", "contains_display_name");
    case 1: {
        static const char *const is[] = {"2", "==2", "<3", ">1", ">=10", "<=1", "x", "3"};
        return json_pack("{s:s, s:s}", "kind", "room_member_count", "is", PICK(is));
    }
    case 2:
        return json_pack("{s:s, s:s}", "kind", "sender_notification_permission", "key", "room");
    case 3:
        return json_pack("{s:s}", "kind", "no_such_kind");
    default:
        return json_pack("{s:s, s:s, s:s}", "kind", "event_match", "key", PICK(keys), "pattern",
                         PICK(patterns));
    }
}

/* A user's changes: some defaults toggled or with other actions, some user rules. */
static json_t *
random_doc(void)
{
    json_t *doc = json_object();
    int nedits = (int)rnd(6);
    char err[128];

    for (int i = 0; i < nedits; i++) {
        int kind = (int)rnd(PUSH_NKINDS);
        json_t *acts = json_loads(PICK(actions), 0, NULL);
        switch (rnd(4)) {
        case 0: {
            const char *const *d = defaults[rnd(sizeof(defaults) / sizeof(defaults[0]))];
            push_rules_set_enabled(doc, push_kind_parse(d[0]), d[1], rnd(2), err, sizeof(err));
            break;
        }
        case 1: {
            const char *const *d = defaults[rnd(sizeof(defaults) / sizeof(defaults[0]))];
            push_rules_set_actions(doc, push_kind_parse(d[0]), d[1], acts, err, sizeof(err));
            break;
        }
        default: {
            char id[64];
            json_t *body = json_pack("{s:O}", "actions", acts);
            if (kind == PUSH_ROOM)
                snprintf(id, sizeof(id), "%s", rnd(2) ? "!r1:ex.org" : "!r2:ex.org");
            else if (kind == PUSH_SENDER)
                snprintf(id, sizeof(id), "%s", PICK(users));
            else
                snprintf(id, sizeof(id), "rule%u", rnd(4));
            if (kind == PUSH_CONTENT) {
                json_object_set_new(body, "pattern", json_string(PICK(patterns)));
            } else if (kind == PUSH_OVERRIDE || kind == PUSH_UNDERRIDE) {
                json_t *conds = json_array();
                for (uint32_t k = rnd(4); k > 0; k--)
                    json_array_append_new(conds, random_condition());
                json_object_set_new(body, "conditions", conds);
            }
            push_rules_put(doc, (enum push_kind)kind, id, body, NULL, NULL, err, sizeof(err));
            if (rnd(4) == 0)
                push_rules_set_enabled(doc, (enum push_kind)kind, id, false, err, sizeof(err));
            json_decref(body);
            break;
        }
        }
        json_decref(acts);
    }
    return doc;
}

static json_t *
random_event(void)
{
    static const char *const types[] = {"m.room.message",   "m.room.message",    "m.room.member",
                                        "m.room.encrypted", "m.call.invite",     "m.room.tombstone",
                                        "m.room.name",      "org.example.custom"};
    static const char *const msgtypes[] = {"m.text", "m.notice", "m.emote"};
    static const char *const memberships[] = {"invite", "join", "leave"};
    json_t *ev = json_object(), *content = json_object();
    const char *type = PICK(types);
    char body[2048] = "";
    size_t len = 0;

    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "sender", json_string(PICK(users)));
    json_object_set_new(ev, "room_id", json_string(rnd(2) ? "!r1:ex.org" : "!r2:ex.org"));
    if (rnd(5)) {
        /* Sometimes long enough for the word index from the first name looked for. */
        uint32_t n = rnd(4) == 0 ? 60 + rnd(60) : rnd(8);
        for (uint32_t i = 0; i < n && len + 64 < sizeof(body); i++)
            len +=
                (size_t)snprintf(body + len, sizeof(body) - len, "%s%s", PICK(words), PICK(seps));
        json_object_set_new(content, "body", json_string(body));
    }
    if (rnd(3))
        json_object_set_new(content, "msgtype", json_string(PICK(msgtypes)));
    if (strcmp(type, "m.room.member") == 0 || rnd(8) == 0)
        json_object_set_new(content, "membership", json_string(PICK(memberships)));
    if (rnd(4) == 0)
        json_object_set_new(content, "foo", json_pack("{s:s}", "bar", PICK(patterns)));
    json_object_set_new(ev, "content", content);
    if (strcmp(type, "m.room.member") == 0)
        json_object_set_new(ev, "state_key", json_string(PICK(users)));
    else if (strcmp(type, "m.room.tombstone") == 0 || rnd(6) == 0)
        json_object_set_new(ev, "state_key", json_string(rnd(2) ? "" : PICK(users)));
    return ev;
}

static json_t *
random_power_levels(void)
{
    switch (rnd(3)) {
    case 0:
        return NULL;
    case 1:
        return json_pack("{s:{s:i, s:i}, s:i}", "users", users[0], 100, users[1], 50,
                         "users_default", (int)rnd(60));
    default:
        return json_pack("{s:{s:i}, s:{s:i}}", "users", PICK(users), 75, "notifications", "room",
                         (int)rnd(101));
    }
}

#define NSETS 6
#define NMEMBERS 40

static void
test_grouped_equals_reference(void **state)
{
    json_t *def = push_rules_ruleset(NULL, NULL);
    struct push_compiled *shared = push_compile(def);
    size_t compared = 0, notified = 0, named = 0;
    (void)state;

    json_decref(def);
    for (int round = 0; round < 3000; round++) {
        struct push_compiled *sets[NSETS];
        json_t *ev = random_event(), *pl = random_power_levels();
        static const int counts[] = {1, 2, 3, 10, 100};
        int64_t count = PICK(counts);
        const char *creator = users[rnd(3)];
        struct push_event *grouped = push_event_new(ev, count, pl, creator);

        /* Set 0 is the shared default; the others a user's own changes (some empty). */
        sets[0] = push_compiled_ref(shared);
        for (int k = 1; k < NSETS; k++) {
            json_t *doc = random_doc();
            json_t *rs = push_rules_ruleset(doc, PICK(users));
            sets[k] = push_compile(rs);
            json_decref(rs);
            json_decref(doc);
        }
        for (int m = 0; m < NMEMBERS; m++) {
            /* Mostly the shared set, as in a real room. */
            struct push_compiled *c = sets[rnd(3) ? 0 : rnd(NSETS)];
            const char *user = PICK(users), *name = PICK(names);
            const struct push_result *a, *b;
            /* A fresh reference event each time (nothing remembered); the grouped one is
             * shared by the members, now and then started over. */
            struct push_event *ref = push_event_new(ev, count, pl, creator);
            if (rnd(8) == 0) {
                push_event_free(grouped);
                grouped = push_event_new(ev, count, pl, creator);
            }
            if (rnd(2)) {
                struct push_member pm;
                push_member_init(&pm, user, name);
                a = push_evaluate_member(c, grouped, &pm);
            } else {
                a = push_evaluate(c, grouped, user, name);
            }
            b = push_evaluate_reference(c, ref, user, name);
            if (a != b) {
                char *text = json_dumps(ev, JSON_COMPACT);
                fail_msg("round %d member %d (%s, name %s): grouped %s, reference %s; event %s",
                         round, m, user, name ? name : "(none)", a ? a->rule_id : "(none)",
                         b ? b->rule_id : "(none)", text);
            }
            compared++;
            notified += a && a->notify;
            named += a && (strcmp(a->rule_id, ".m.rule.contains_display_name") == 0 ||
                           strcmp(a->rule_id, ".m.rule.contains_user_name") == 0);
            push_event_free(ref);
        }
        push_event_free(grouped);
        for (int k = 0; k < NSETS; k++)
            push_compiled_unref(sets[k]);
        json_decref(pl);
        json_decref(ev);
    }
    push_compiled_unref(shared);
    /* The random cases reach both answers and the name rules (else the test proves little). */
    assert_int_equal(compared, 3000 * NMEMBERS);
    assert_true(notified > compared / 10 && notified < compared * 9 / 10);
    assert_true(named > 500);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grouped_equals_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
