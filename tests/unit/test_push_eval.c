/* The push rule engine against modules/push.rst: globs, the default rules, overrides,
 * disabled rules, member counts, power levels, unknown conditions. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "push/eval.h"
#include "push/rules.h"

#define ALICE "@alice:example.org"

static void
test_globs(void **state)
{
    static const struct {
        const char *pattern, *value;
        bool word, match;
    } cases[] = {
        /* whole-value matches (every key but content.body) */
        {"m.notice", "m.notice", false, true},
        {"m.notice", "m.notices", false, false},
        {"m.notice", "xm.notice", false, false},
        {"M.NOTICE", "m.notice", false, true},
        {"m.room.*", "m.room.message", false, true},
        {"m.room.*", "m.room.", false, true},
        {"m.room.*", "m.roo", false, false},
        {"m.room.?essage", "m.room.message", false, true},
        {"m.room.?essage", "m.room.essage", false, false},
        {"[mn].room.message", "n.room.message", false, true},
        {"[!m].room", "m.room", false, false},
        {"[!m].room", "x.room", false, true},
        {"[a-c]at", "bat", false, true},
        {"[a-c]at", "dat", false, false},
        {"[abc", "[abc", false, true}, /* an unterminated class is literal */
        {"", "", false, true},
        {"", "x", false, false},
        {"a*b*c", "aXbYc", false, true},
        {"a*b*c", "aXcYb", false, false},
        {"a*b", "a\nb", false, true},
        /* content.body: anywhere between word boundaries */
        {"cake", "I like cake", true, true},
        {"cake", "cake!", true, true},
        {"cake", "cakes", true, false},
        {"cake", "pancake", true, false},
        {"cake", "CAKE time", true, true},
        {"cake*lie", "the cake is a lie", true, true},
        {"cake*lie", "the cake is a lie detector", true, true},
        {"cake*lie", "the cake is a lies", true, false},
        {"cake*lie", "cakes lie", true, true},
        {"@room", "hello @room!", true, true},
        {"@room", "@room", true, true},
        {"@room", "hello@room", true, false},
        {"@room", "@roomy", true, false},
        {"alice", "alice: hi", true, true},
        {"alice", "malice", true, false},
        {"*", "anything", true, true},
        {"b?d", "a bed", true, true},
        {"b?d", "a bead", true, false},
        {"日本", "こんにちは 日本", true, true},
        {"日本", "こんにちは日本", true, false}, /* non-ASCII letters are word characters */
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (push_glob_match(cases[i].pattern, cases[i].value, cases[i].word) != cases[i].match)
            fail_msg("'%s' ~ '%s' (word %d) should be %d", cases[i].pattern, cases[i].value,
                     cases[i].word, cases[i].match);
    }
}

static void
test_glob_is_not_exponential(void **state)
{
    char value[20001];
    (void)state;

    memset(value, 'a', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    /* A backtracking matcher takes forever on these; ours is O(pattern * value). */
    assert_false(push_glob_match("*a*a*a*a*a*a*a*a*b", value, false));
    assert_false(push_glob_match("a*a*a*a*a*a*a*a*b", value, true));
    value[sizeof(value) - 2] = 'b';
    assert_true(push_glob_match("*a*a*a*a*a*a*a*a*b", value, false));
}

/* Evaluation of one event for one member against a ruleset built from doc (JSON text or
 * NULL). Returns the matching rule ID ("" for none); *notify and *highlight from it. */
struct outcome {
    char rule[64];
    bool notify, highlight;
};

static struct outcome
eval_full(const char *doc_text, const char *event_text, int64_t members, const char *pl_text,
          const char *user, const char *display_name)
{
    json_t *doc = doc_text ? json_loads(doc_text, 0, NULL) : NULL;
    json_t *ev = json_loads(event_text, 0, NULL);
    json_t *pl = pl_text ? json_loads(pl_text, 0, NULL) : NULL;
    json_t *ruleset = push_rules_ruleset(doc, user);
    struct push_compiled *c = push_compile(ruleset);
    struct push_event *pe;
    const struct push_result *res;
    struct outcome o = {"", false, false};

    assert_non_null(ev);
    if (doc_text)
        assert_non_null(doc);
    pe = push_event_new(ev, members, pl, "@creator:example.org");
    res = push_evaluate(c, pe, user, display_name);
    if (res) {
        strncpy(o.rule, res->rule_id, sizeof(o.rule) - 1);
        o.notify = res->notify;
        o.highlight = res->highlight;
    }
    push_event_free(pe);
    push_compiled_unref(c);
    json_decref(ruleset);
    json_decref(doc);
    json_decref(ev);
    json_decref(pl);
    return o;
}

static struct outcome
eval(const char *doc, const char *event, int64_t members)
{
    return eval_full(doc, event, members, NULL, ALICE, "Alice Smith");
}

#define MSG(body)                                                                                  \
    "{\"type\":\"m.room.message\",\"sender\":\"@bob:example.org\",\"room_id\":\"!r:example.org\"," \
    "\"content\":{\"msgtype\":\"m.text\",\"body\":\"" body "\"}}"

static void
assert_outcome(struct outcome o, const char *rule, bool notify, bool highlight)
{
    if (strcmp(o.rule, rule) != 0 || o.notify != notify || o.highlight != highlight)
        fail_msg("got %s notify=%d highlight=%d, expected %s notify=%d highlight=%d", o.rule,
                 o.notify, o.highlight, rule, notify, highlight);
}

static void
test_default_rules(void **state)
{
    (void)state;
    /* A plain message in a group room notifies without highlight. */
    assert_outcome(eval(NULL, MSG("hello everyone"), 5), ".m.rule.message", true, false);
    /* Mentions: the localpart and the display name, between word boundaries, any case. */
    assert_outcome(eval(NULL, MSG("hey alice, look"), 5), ".m.rule.contains_user_name", true, true);
    assert_outcome(eval(NULL, MSG("hey ALICE"), 5), ".m.rule.contains_user_name", true, true);
    assert_outcome(eval(NULL, MSG("malice aforethought"), 5), ".m.rule.message", true, false);
    assert_outcome(eval(NULL, MSG("ask alice smith!"), 5), ".m.rule.contains_display_name", true,
                   true);
    assert_outcome(eval_full(NULL, MSG("the Queen Beetle"), 5, NULL, ALICE, "Queen Bee"),
                   ".m.rule.message", true, false);
    assert_outcome(eval_full(NULL, MSG("the queen"), 5, NULL, ALICE, "Queen"),
                   ".m.rule.contains_display_name", true, true);
    /* No display name: that rule cannot match. */
    assert_outcome(eval_full(NULL, MSG("the queen"), 5, NULL, ALICE, NULL), ".m.rule.message", true,
                   false);
    /* A one-to-one room rings with a sound. */
    assert_outcome(eval(NULL, MSG("hi"), 2), ".m.rule.room_one_to_one", true, false);
    /* Notices never notify. */
    assert_outcome(eval(NULL,
                        "{\"type\":\"m.room.message\",\"sender\":\"@bot:example.org\","
                        "\"content\":{\"msgtype\":\"m.notice\",\"body\":\"alice: build ok\"}}",
                        5),
                   ".m.rule.suppress_notices", false, false);
    /* Invites: for me notify, for someone else are member events (no notification). */
    assert_outcome(eval(NULL,
                        "{\"type\":\"m.room.member\",\"sender\":\"@bob:example.org\","
                        "\"state_key\":\"" ALICE "\",\"content\":{\"membership\":\"invite\"}}",
                        5),
                   ".m.rule.invite_for_me", true, false);
    assert_outcome(eval(NULL,
                        "{\"type\":\"m.room.member\",\"sender\":\"@bob:example.org\","
                        "\"state_key\":\"@carol:example.org\",\"content\":"
                        "{\"membership\":\"invite\"}}",
                        5),
                   ".m.rule.member_event", false, false);
    /* Tombstones highlight (state key ""). */
    assert_outcome(eval(NULL,
                        "{\"type\":\"m.room.tombstone\",\"sender\":\"@bob:example.org\","
                        "\"state_key\":\"\",\"content\":{\"replacement_room\":\"!n:x\"}}",
                        5),
                   ".m.rule.tombstone", true, true);
    assert_outcome(eval(NULL,
                        "{\"type\":\"m.room.tombstone\",\"sender\":\"@bob:example.org\","
                        "\"state_key\":\"x\",\"content\":{}}",
                        5),
                   "", false, false);
    /* Calls and encrypted events. */
    assert_outcome(eval(NULL,
                        "{\"type\":\"m.call.invite\",\"sender\":\"@bob:example.org\","
                        "\"content\":{}}",
                        5),
                   ".m.rule.call", true, false);
    assert_outcome(eval(NULL,
                        "{\"type\":\"m.room.encrypted\",\"sender\":\"@bob:example.org\","
                        "\"content\":{}}",
                        2),
                   ".m.rule.encrypted_room_one_to_one", true, false);
    assert_outcome(eval(NULL,
                        "{\"type\":\"m.room.encrypted\",\"sender\":\"@bob:example.org\","
                        "\"content\":{}}",
                        3),
                   ".m.rule.encrypted", true, false);
    /* Anything else matches no rule. */
    assert_outcome(eval(NULL, "{\"type\":\"org.example\",\"sender\":\"@b:x\",\"content\":{}}", 5),
                   "", false, false);
}

static void
test_room_notification_power(void **state)
{
    const char *at_room = MSG("@room lunch!");
    (void)state;
    /* Without power levels the creator has 100, everyone else 0 (below the default 50). */
    assert_outcome(eval_full(NULL, at_room, 5, NULL, ALICE, NULL), ".m.rule.message", true, false);
    assert_outcome(eval_full(NULL,
                             "{\"type\":\"m.room.message\",\"sender\":\"@creator:example.org\","
                             "\"content\":{\"msgtype\":\"m.text\",\"body\":\"@room hi\"}}",
                             5, NULL, ALICE, NULL),
                   ".m.rule.roomnotif", true, true);
    assert_outcome(
        eval_full(NULL, at_room, 5, "{\"users\":{\"@bob:example.org\":50}}", ALICE, NULL),
        ".m.rule.roomnotif", true, true);
    assert_outcome(eval_full(NULL, at_room, 5, "{\"users_default\":50}", ALICE, NULL),
                   ".m.rule.roomnotif", true, true);
    assert_outcome(eval_full(NULL, at_room, 5,
                             "{\"users\":{\"@bob:example.org\":50},"
                             "\"notifications\":{\"room\":100}}",
                             ALICE, NULL),
                   ".m.rule.message", true, false);
    /* "@roomy" is not "@room". */
    assert_outcome(eval_full(NULL, MSG("@roomy"), 5, "{\"users_default\":100}", ALICE, NULL),
                   ".m.rule.message", true, false);
}

static void
test_member_count(void **state)
{
    static const struct {
        const char *is;
        int64_t members;
        bool match;
    } cases[] = {
        {"2", 2, true},    {"2", 3, false},   {"==2", 2, true},  {"<3", 2, true},
        {"<3", 3, false},  {">1", 2, true},   {">2", 2, false},  {"<=2", 2, true},
        {"<=2", 3, false}, {">=3", 3, true},  {">=3", 2, false}, {"x2", 2, false},
        {"", 2, false},    {"=<2", 2, false}, {"2a", 2, false},  {"-1", 2, false},
    };
    (void)state;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char doc[256];
        struct outcome o;
        snprintf(doc, sizeof(doc),
                 "{\"override\":[{\"rule_id\":\"count\",\"enabled\":true,\"actions\":[\"notify\"],"
                 "\"conditions\":[{\"kind\":\"room_member_count\",\"is\":\"%s\"}]}]}",
                 cases[i].is);
        o = eval(doc, "{\"type\":\"org.example\",\"sender\":\"@b:x\",\"content\":{}}",
                 cases[i].members);
        if ((strcmp(o.rule, "count") == 0) != cases[i].match)
            fail_msg("is '%s' with %lld members should be %d", cases[i].is,
                     (long long)cases[i].members, cases[i].match);
    }
}

static void
test_user_rules(void **state)
{
    (void)state;
    /* The spec's example: beer in rooms of up to 10 members, before the content rules. */
    const char *beer =
        "{\"override\":[{\"rule_id\":\"beer\",\"enabled\":true,\"actions\":[\"notify\","
        "{\"set_tweak\":\"sound\",\"value\":\"beeroclock.wav\"}],\"conditions\":["
        "{\"kind\":\"event_match\",\"key\":\"content.body\",\"pattern\":\"beer\"},"
        "{\"kind\":\"room_member_count\",\"is\":\"<=10\"}]}]}";
    assert_outcome(eval(beer, MSG("alice, beer?"), 5), "beer", true, false);
    assert_outcome(eval(beer, MSG("alice, beer?"), 11), ".m.rule.contains_user_name", true, true);
    /* A content rule with a glob (the spec's "cake*lie"), and its dont_notify twin before it. */
    const char *cake = "{\"content\":[{\"rule_id\":\"nocake\",\"enabled\":true,\"pattern\":"
                       "\"cake*lie\",\"actions\":[\"dont_notify\"]},{\"rule_id\":\"cake\","
                       "\"enabled\":true,\"pattern\":\"cake\",\"actions\":[\"notify\"]}]}";
    assert_outcome(eval(cake, MSG("the cake is a lie"), 5), "nocake", false, false);
    assert_outcome(eval(cake, MSG("cake for all"), 5), "cake", true, false);
    /* Room and sender rules: the rule ID names the room or the sender. */
    const char *room = "{\"room\":[{\"rule_id\":\"!r:example.org\",\"enabled\":true,"
                       "\"actions\":[\"dont_notify\"]}]}";
    assert_outcome(eval(room, MSG("hello"), 5), "!r:example.org", false, false);
    assert_outcome(eval(room,
                        "{\"type\":\"m.room.message\",\"sender\":\"@b:x\",\"room_id\":\"!o:x\","
                        "\"content\":{\"body\":\"hi\"}}",
                        5),
                   ".m.rule.message", true, false);
    const char *sender = "{\"sender\":[{\"rule_id\":\"@bob:example.org\",\"enabled\":true,"
                         "\"actions\":[\"notify\",{\"set_tweak\":\"highlight\"}]}]}";
    assert_outcome(eval(sender, MSG("hello"), 5), "@bob:example.org", true, true);
    /* Content rules come after overrides: a mention in a notice stays suppressed. */
    assert_outcome(eval(sender,
                        "{\"type\":\"m.room.message\",\"sender\":\"@bob:example.org\","
                        "\"content\":{\"msgtype\":\"m.notice\",\"body\":\"x\"}}",
                        5),
                   ".m.rule.suppress_notices", false, false);
    /* Other keys: nested, and keys holding dots (flattened as Synapse does). */
    const char *other =
        "{\"override\":[{\"rule_id\":\"rel\",\"enabled\":true,\"actions\":[\"notify\"],"
        "\"conditions\":[{\"kind\":\"event_match\",\"key\":\"content.m.relates_to.rel_type\","
        "\"pattern\":\"m.*\"}]}]}";
    assert_outcome(eval(other,
                        "{\"type\":\"x\",\"sender\":\"@b:x\",\"content\":{\"m.relates_to\":"
                        "{\"rel_type\":\"m.annotation\"}}}",
                        5),
                   "rel", true, false);
}

static void
test_disabled_and_unknown(void **state)
{
    (void)state;
    /* A disabled default rule never matches. */
    assert_outcome(eval("{\"defaults\":{\".m.rule.message\":{\"enabled\":false}}}", MSG("hi"), 5),
                   "", false, false);
    /* Changed actions of a default rule. */
    assert_outcome(
        eval("{\"defaults\":{\".m.rule.message\":{\"actions\":[\"dont_notify\"]}}}", MSG("hi"), 5),
        ".m.rule.message", false, false);
    /* The master rule silences everything but the user's own override rules (SPEC: "other
     * than those generated by override rules set by the user"). */
    const char *master = "{\"defaults\":{\".m.rule.master\":{\"enabled\":true}},\"override\":"
                         "[{\"rule_id\":\"vip\",\"enabled\":true,\"actions\":[\"notify\"],"
                         "\"conditions\":[{\"kind\":\"event_match\",\"key\":\"sender\","
                         "\"pattern\":\"@vip:*\"}]}]}";
    assert_outcome(eval(master, MSG("alice!"), 2), ".m.rule.master", false, false);
    assert_outcome(eval(master,
                        "{\"type\":\"m.room.message\",\"sender\":\"@vip:example.org\","
                        "\"content\":{\"body\":\"hi\"}}",
                        2),
                   "vip", true, false);
    /* A disabled user rule is skipped. */
    assert_outcome(eval("{\"override\":[{\"rule_id\":\"off\",\"enabled\":false,\"actions\":"
                        "[\"dont_notify\"],\"conditions\":[]}]}",
                        MSG("hi"), 5),
                   ".m.rule.message", true, false);
    /* SPEC: "Unrecognised conditions MUST NOT match any events". Also event_match without a
     * pattern, and a key that is not a string in the event. */
    assert_outcome(eval("{\"override\":[{\"rule_id\":\"u\",\"enabled\":true,\"actions\":"
                        "[\"dont_notify\"],\"conditions\":[{\"kind\":\"org.example.magic\"}]}]}",
                        MSG("hi"), 5),
                   ".m.rule.message", true, false);
    assert_outcome(eval("{\"override\":[{\"rule_id\":\"u\",\"enabled\":true,\"actions\":"
                        "[\"dont_notify\"],\"conditions\":[{\"kind\":\"event_match\","
                        "\"key\":\"type\"}]}]}",
                        MSG("hi"), 5),
                   ".m.rule.message", true, false);
    assert_outcome(eval("{\"override\":[{\"rule_id\":\"u\",\"enabled\":true,\"actions\":"
                        "[\"dont_notify\"],\"conditions\":[{\"kind\":\"event_match\","
                        "\"key\":\"content\",\"pattern\":\"*\"}]}]}",
                        MSG("hi"), 5),
                   ".m.rule.message", true, false);
    /* An override without conditions always matches. */
    assert_outcome(eval("{\"override\":[{\"rule_id\":\"all\",\"enabled\":true,\"actions\":"
                        "[\"coalesce\"],\"conditions\":[]}]}",
                        MSG("hi"), 5),
                   "all", true, false);
}

static void
test_long_body_mentions(void **state)
{
    char body[8192], event[9000];
    (void)state;

    /* Long bodies go through the word index; mentions are found all the same. */
    for (size_t i = 0; i + 1 < sizeof(body); i++)
        body[i] = i % 7 == 6 ? ' ' : (char)('a' + (char)(i % 5));
    body[sizeof(body) - 1] = '\0';
    memcpy(body + 4000, " Alice Smith ", 13);
    snprintf(event, sizeof(event),
             "{\"type\":\"m.room.message\",\"sender\":\"@b:x\",\"content\":{\"body\":\"%s\"}}",
             body);
    assert_outcome(eval(NULL, event, 5), ".m.rule.contains_display_name", true, true);
    memcpy(body + 4000, " Alice_Smith ", 13);
    snprintf(event, sizeof(event),
             "{\"type\":\"m.room.message\",\"sender\":\"@b:x\",\"content\":{\"body\":\"%s\"}}",
             body);
    assert_outcome(eval(NULL, event, 5), ".m.rule.message", true, false);
}

static void
test_one_event_many_members(void **state)
{
    json_t *ruleset = push_rules_ruleset(NULL, NULL);
    struct push_compiled *c = push_compile(ruleset);
    json_t *ev = json_loads(MSG("bob2 and bob7, lunch?"), 0, NULL);
    struct push_event *pe = push_event_new(ev, 10, NULL, NULL);
    (void)state;

    /* One compiled ruleset (no user data in it) serves every member. */
    for (int i = 0; i < 10; i++) {
        char user[64];
        const struct push_result *r;
        snprintf(user, sizeof(user), "@bob%d:example.org", i);
        r = push_evaluate(c, pe, user, NULL);
        assert_non_null(r);
        assert_string_equal(r->rule_id,
                            i == 2 || i == 7 ? ".m.rule.contains_user_name" : ".m.rule.message");
        assert_true(r->notify);
    }
    /* Another ruleset on the same event has its own answer (here: messages silenced). */
    {
        json_t *doc =
            json_loads("{\"defaults\":{\".m.rule.message\":{\"enabled\":false}}}", 0, NULL);
        json_t *rs2 = push_rules_ruleset(doc, NULL);
        struct push_compiled *c2 = push_compile(rs2);
        assert_null(push_evaluate(c2, pe, "@bob1:example.org", NULL));
        assert_string_equal(push_evaluate(c2, pe, "@bob2:example.org", NULL)->rule_id,
                            ".m.rule.contains_user_name");
        assert_string_equal(push_evaluate(c, pe, "@bob1:example.org", NULL)->rule_id,
                            ".m.rule.message");
        push_compiled_unref(c2);
        json_decref(rs2);
        json_decref(doc);
    }
    push_event_free(pe);
    push_compiled_unref(c);
    json_decref(ev);
    json_decref(ruleset);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_globs),
        cmocka_unit_test(test_glob_is_not_exponential),
        cmocka_unit_test(test_default_rules),
        cmocka_unit_test(test_room_notification_power),
        cmocka_unit_test(test_member_count),
        cmocka_unit_test(test_user_rules),
        cmocka_unit_test(test_disabled_and_unknown),
        cmocka_unit_test(test_long_body_mentions),
        cmocka_unit_test(test_one_event_many_members),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
