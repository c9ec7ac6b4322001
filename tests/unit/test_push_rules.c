/* Push rulesets: the r0.6.1 server-default rules in the spec's order, and the edits of
 * pushrules.yaml (before/after, enabled, actions, what may not be deleted). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "push/rules.h"

#define ALICE "@alice:example.org"

static void
assert_ids(const json_t *ruleset, enum push_kind kind, const char *const *ids, size_t n)
{
    json_t *list = json_object_get(json_object_get(ruleset, "global"), push_kind_names[kind]);
    if (json_array_size(list) != n)
        fail_msg("%s has %zu rules, expected %zu", push_kind_names[kind], json_array_size(list), n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(list, i), "rule_id")),
                            ids[i]);
}

static void
test_defaults_in_spec_order(void **state)
{
    static const char *const override[] = {
        ".m.rule.master",       ".m.rule.suppress_notices",      ".m.rule.invite_for_me",
        ".m.rule.member_event", ".m.rule.contains_display_name", ".m.rule.tombstone",
        ".m.rule.roomnotif"};
    static const char *const content[] = {".m.rule.contains_user_name"};
    static const char *const underride[] = {".m.rule.call", ".m.rule.encrypted_room_one_to_one",
                                            ".m.rule.room_one_to_one", ".m.rule.message",
                                            ".m.rule.encrypted"};
    json_t *rs = push_rules_ruleset(NULL, ALICE), *rule;
    (void)state;

    assert_ids(rs, PUSH_OVERRIDE, override, 7);
    assert_ids(rs, PUSH_CONTENT, content, 1);
    assert_ids(rs, PUSH_ROOM, NULL, 0);
    assert_ids(rs, PUSH_SENDER, NULL, 0);
    assert_ids(rs, PUSH_UNDERRIDE, underride, 5);
    /* Per user: the localpart pattern and the invite's state key. */
    rule = push_rules_find(rs, PUSH_CONTENT, ".m.rule.contains_user_name");
    assert_string_equal(json_string_value(json_object_get(rule, "pattern")), "alice");
    assert_true(json_is_true(json_object_get(rule, "default")));
    rule = push_rules_find(rs, PUSH_OVERRIDE, ".m.rule.invite_for_me");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(rule, "conditions"), 2), "pattern")),
                        ALICE);
    /* The master rule starts disabled, the others enabled. */
    assert_true(json_is_false(
        json_object_get(push_rules_find(rs, PUSH_OVERRIDE, ".m.rule.master"), "enabled")));
    assert_true(json_is_true(
        json_object_get(push_rules_find(rs, PUSH_UNDERRIDE, ".m.rule.message"), "enabled")));
    assert_null(push_rules_find(rs, PUSH_UNDERRIDE, ".m.rule.master"));
    assert_true(push_rules_is_default(PUSH_OVERRIDE, ".m.rule.master"));
    assert_false(push_rules_is_default(PUSH_UNDERRIDE, ".m.rule.master"));
    json_decref(rs);
}

static json_t *
body(const char *text)
{
    json_t *b = json_loads(text, 0, NULL);
    assert_non_null(b);
    return b;
}

static enum push_edit_rc
put(json_t *doc, enum push_kind kind, const char *id, const char *text, const char *before,
    const char *after)
{
    char err[200];
    json_t *b = body(text);
    enum push_edit_rc rc = push_rules_put(doc, kind, id, b, before, after, err, sizeof(err));
    json_decref(b);
    return rc;
}

static void
test_put_order(void **state)
{
    json_t *doc = json_object(), *rs;
    const char *a = "{\"pattern\":\"a\",\"actions\":[\"notify\"]}";
    (void)state;

    assert_int_equal(put(doc, PUSH_CONTENT, "one", a, NULL, NULL), PUSH_EDIT_OK);
    /* Without before/after a rule goes first of its kind (as Synapse). */
    assert_int_equal(put(doc, PUSH_CONTENT, "two", a, NULL, NULL), PUSH_EDIT_OK);
    assert_int_equal(put(doc, PUSH_CONTENT, "three", a, NULL, "two"), PUSH_EDIT_OK);
    assert_int_equal(put(doc, PUSH_CONTENT, "zero", a, "two", NULL), PUSH_EDIT_OK);
    rs = push_rules_ruleset(doc, ALICE);
    {
        static const char *const ids[] = {"zero", "two", "three", "one",
                                          ".m.rule.contains_user_name"};
        assert_ids(rs, PUSH_CONTENT, ids, 5);
    }
    assert_true(
        json_is_false(json_object_get(push_rules_find(rs, PUSH_CONTENT, "one"), "default")));
    json_decref(rs);
    /* SPEC: "It is not possible to add a rule relative to a predefined server rule." */
    assert_int_equal(put(doc, PUSH_CONTENT, "four", a, ".m.rule.contains_user_name", NULL),
                     PUSH_EDIT_INVALID);
    assert_int_equal(put(doc, PUSH_CONTENT, "four", a, NULL, "nope"), PUSH_EDIT_INVALID);
    /* Rules of another kind are not anchors either. */
    assert_int_equal(put(doc, PUSH_OVERRIDE, "four", "{\"actions\":[]}", "one", NULL),
                     PUSH_EDIT_INVALID);
    /* Replacing a disabled rule keeps it disabled. */
    assert_int_equal(push_rules_set_enabled(doc, PUSH_CONTENT, "one", false, NULL, 0),
                     PUSH_EDIT_OK);
    assert_int_equal(
        put(doc, PUSH_CONTENT, "one", "{\"pattern\":\"b\",\"actions\":[]}", NULL, NULL),
        PUSH_EDIT_OK);
    rs = push_rules_ruleset(doc, ALICE);
    assert_true(
        json_is_false(json_object_get(push_rules_find(rs, PUSH_CONTENT, "one"), "enabled")));
    assert_string_equal(
        json_string_value(json_object_get(push_rules_find(rs, PUSH_CONTENT, "one"), "pattern")),
        "b");
    json_decref(rs);
    json_decref(doc);
}

static void
test_put_validation(void **state)
{
    json_t *doc = json_object();
    (void)state;

    assert_int_equal(put(doc, PUSH_CONTENT, "c", "{\"actions\":[\"notify\"]}", NULL, NULL),
                     PUSH_EDIT_INVALID); /* no pattern */
    assert_int_equal(put(doc, PUSH_CONTENT, "c", "{\"pattern\":1,\"actions\":[]}", NULL, NULL),
                     PUSH_EDIT_INVALID);
    assert_int_equal(put(doc, PUSH_ROOM, "!r:x", "{}", NULL, NULL), PUSH_EDIT_INVALID);
    assert_int_equal(put(doc, PUSH_ROOM, "!r:x", "{\"actions\":\"notify\"}", NULL, NULL),
                     PUSH_EDIT_INVALID);
    assert_int_equal(put(doc, PUSH_ROOM, "!r:x", "{\"actions\":[\"shout\"]}", NULL, NULL),
                     PUSH_EDIT_INVALID);
    assert_int_equal(
        put(doc, PUSH_ROOM, "!r:x", "{\"actions\":[{\"set_sound\":\"a\"}]}", NULL, NULL),
        PUSH_EDIT_INVALID);
    assert_int_equal(put(doc, PUSH_ROOM, "!r:x",
                         "{\"actions\":[\"notify\",{\"set_tweak\":\"sound\",\"value\":\"a\"}]}",
                         NULL, NULL),
                     PUSH_EDIT_OK);
    assert_int_equal(put(doc, PUSH_OVERRIDE, "o", "{\"actions\":[],\"conditions\":{}}", NULL, NULL),
                     PUSH_EDIT_INVALID);
    assert_int_equal(
        put(doc, PUSH_OVERRIDE, "o", "{\"actions\":[],\"conditions\":[{}]}", NULL, NULL),
        PUSH_EDIT_INVALID);
    assert_int_equal(put(doc, PUSH_OVERRIDE, "o",
                         "{\"actions\":[],\"conditions\":[{\"kind\":\"anything\"}]}", NULL, NULL),
                     PUSH_EDIT_OK);
    /* Reserved and unaddressable IDs. */
    assert_int_equal(put(doc, PUSH_OVERRIDE, ".m.rule.master", "{\"actions\":[]}", NULL, NULL),
                     PUSH_EDIT_INVALID);
    assert_int_equal(put(doc, PUSH_OVERRIDE, ".mine", "{\"actions\":[]}", NULL, NULL),
                     PUSH_EDIT_INVALID);
    assert_int_equal(put(doc, PUSH_OVERRIDE, "a/b", "{\"actions\":[]}", NULL, NULL),
                     PUSH_EDIT_INVALID);
    json_decref(doc);
}

static void
test_delete_enable_actions(void **state)
{
    json_t *doc = json_object(), *rs, *actions = body("[\"dont_notify\"]");
    json_t *bad = body("[\"loudly\"]");
    (void)state;

    assert_int_equal(
        put(doc, PUSH_SENDER, "@spam:x", "{\"actions\":[\"dont_notify\"]}", NULL, NULL),
        PUSH_EDIT_OK);
    assert_int_equal(push_rules_delete(doc, PUSH_SENDER, "@spam:x", NULL, 0), PUSH_EDIT_OK);
    assert_int_equal(push_rules_delete(doc, PUSH_SENDER, "@spam:x", NULL, 0), PUSH_EDIT_NOT_FOUND);
    /* Server-default rules: disabled and given other actions, never deleted. */
    assert_int_equal(push_rules_delete(doc, PUSH_UNDERRIDE, ".m.rule.message", NULL, 0),
                     PUSH_EDIT_INVALID);
    assert_int_equal(push_rules_set_enabled(doc, PUSH_UNDERRIDE, ".m.rule.message", false, NULL, 0),
                     PUSH_EDIT_OK);
    assert_int_equal(
        push_rules_set_actions(doc, PUSH_OVERRIDE, ".m.rule.tombstone", actions, NULL, 0),
        PUSH_EDIT_OK);
    assert_int_equal(push_rules_set_actions(doc, PUSH_OVERRIDE, ".m.rule.tombstone", bad, NULL, 0),
                     PUSH_EDIT_INVALID);
    /* A default rule of another kind, or an unknown rule, is not found. */
    assert_int_equal(push_rules_set_enabled(doc, PUSH_OVERRIDE, ".m.rule.message", false, NULL, 0),
                     PUSH_EDIT_NOT_FOUND);
    assert_int_equal(push_rules_set_actions(doc, PUSH_ROOM, "!nope:x", actions, NULL, 0),
                     PUSH_EDIT_NOT_FOUND);
    rs = push_rules_ruleset(doc, ALICE);
    assert_true(json_is_false(
        json_object_get(push_rules_find(rs, PUSH_UNDERRIDE, ".m.rule.message"), "enabled")));
    assert_true(json_equal(
        json_object_get(push_rules_find(rs, PUSH_OVERRIDE, ".m.rule.tombstone"), "actions"),
        actions));
    assert_true(json_is_true(
        json_object_get(push_rules_find(rs, PUSH_OVERRIDE, ".m.rule.tombstone"), "default")));
    /* Enabling master works like any other default. */
    assert_int_equal(push_rules_set_enabled(doc, PUSH_OVERRIDE, ".m.rule.master", true, NULL, 0),
                     PUSH_EDIT_OK);
    json_decref(rs);
    rs = push_rules_ruleset(doc, ALICE);
    assert_true(json_is_true(
        json_object_get(push_rules_find(rs, PUSH_OVERRIDE, ".m.rule.master"), "enabled")));
    json_decref(rs);
    json_decref(actions);
    json_decref(bad);
    json_decref(doc);
}

static void
test_kind_names(void **state)
{
    (void)state;
    assert_int_equal(push_kind_parse("override"), PUSH_OVERRIDE);
    assert_int_equal(push_kind_parse("underride"), PUSH_UNDERRIDE);
    assert_int_equal(push_kind_parse("global"), -1);
    assert_int_equal(push_kind_parse(NULL), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_in_spec_order),
        cmocka_unit_test(test_put_order),
        cmocka_unit_test(test_put_validation),
        cmocka_unit_test(test_delete_enable_actions),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
