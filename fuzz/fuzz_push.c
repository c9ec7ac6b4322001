/* libFuzzer driver: push rule evaluation (modules/push.rst) on random rule sets, a random
 * event and a random room context: no crash, and the same answer every time it is asked.
 * Input: a JSON object
 *   {"doc": {...}, "ruleset": {"global": {...}}, "event": {...}, "member_count": n,
 *    "power_levels": {...}, "creator": "@c:x",
 *    "members": [{"user_id": "@u:x", "display_name": "U"}, ...]}
 * "doc" is a user's changes (push_rules_ruleset merges them with the server defaults, as for a
 * real user); "ruleset" (optional) is compiled as it stands, a rule set no edit endpoint
 * validated. Each member is evaluated four ways that must agree: twice on one prepared event
 * (the second answer comes from the per-event memo), once on a fresh event of its own (no
 * memo from the other members), and by push_evaluate_reference (the definition). Built by
 * `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "push/eval.h"
#include "push/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MEMBERS 8

static bool
same(const struct push_result *a, const struct push_result *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a->rule_id, b->rule_id) == 0 && strcmp(a->actions, b->actions) == 0 &&
           a->notify == b->notify && a->highlight == b->highlight;
}

static void
check(const struct push_compiled *c, const json_t *in)
{
    const json_t *event = json_object_get(in, "event");
    const json_t *pl = json_object_get(in, "power_levels");
    const json_t *members = json_object_get(in, "members");
    const char *creator = json_string_value(json_object_get(in, "creator"));
    int64_t count = json_integer_value(json_object_get(in, "member_count"));
    const struct push_result *first[MAX_MEMBERS];
    struct push_event *shared;
    size_t n = json_array_size(members);

    if (n > MAX_MEMBERS)
        n = MAX_MEMBERS;
    shared = push_event_new(event, count, pl && json_is_object(pl) ? pl : NULL, creator);
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(members, i);
        const char *uid = json_string_value(json_object_get(m, "user_id"));
        const char *dn = json_string_value(json_object_get(m, "display_name"));
        first[i] = push_evaluate(c, shared, uid ? uid : "@fuzz:example.org", dn);
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(members, i);
        const char *uid = json_string_value(json_object_get(m, "user_id"));
        const char *dn = json_string_value(json_object_get(m, "display_name"));
        struct push_event *fresh;
        if (!uid)
            uid = "@fuzz:example.org";
        if (!same(first[i], push_evaluate(c, shared, uid, dn)))
            abort();
        fresh = push_event_new(event, count, pl && json_is_object(pl) ? pl : NULL, creator);
        if (!same(first[i], push_evaluate(c, fresh, uid, dn)))
            abort();
        push_event_free(fresh);
        /* And the definition: every rule, every condition, nothing shared (issue 3). */
        fresh = push_event_new(event, count, pl && json_is_object(pl) ? pl : NULL, creator);
        if (!same(first[i], push_evaluate_reference(c, fresh, uid, dn)))
            abort();
        push_event_free(fresh);
    }
    push_event_free(shared);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, 0, NULL);
    const json_t *raw;
    struct push_compiled *c;
    json_t *rs;

    if (!in)
        return 0;
    rs = push_rules_ruleset(json_object_get(in, "doc"), "@fuzz:example.org");
    c = push_compile(rs);
    check(c, in);
    push_compiled_unref(c);
    json_decref(rs);
    if ((raw = json_object_get(in, "ruleset")) != NULL) {
        c = push_compile(raw);
        check(c, in);
        push_compiled_unref(c);
    }
    json_decref(in);
    return 0;
}
