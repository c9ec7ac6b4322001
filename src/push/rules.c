/* Push rulesets: see rules.h. */
#include "push/rules.h"

#include <stdio.h>
#include <string.h>

#include "core/util.h"

const char *const push_kind_names[PUSH_NKINDS] = {"override", "content", "room", "sender",
                                                  "underride"};

/* SPEC: modules/push.rst "Predefined Rules", r0.6.1, in its order. The user's Matrix ID
 * (.m.rule.invite_for_me) and localpart (.m.rule.contains_user_name) are filled in per user. */
static const char DEFAULT_RULES[] =
    "{\"override\":["
    "{\"rule_id\":\".m.rule.master\",\"enabled\":false,\"conditions\":[],"
    "\"actions\":[\"dont_notify\"]},"
    "{\"rule_id\":\".m.rule.suppress_notices\",\"enabled\":true,\"conditions\":["
    "{\"kind\":\"event_match\",\"key\":\"content.msgtype\",\"pattern\":\"m.notice\"}],"
    "\"actions\":[\"dont_notify\"]},"
    "{\"rule_id\":\".m.rule.invite_for_me\",\"enabled\":true,\"conditions\":["
    "{\"kind\":\"event_match\",\"key\":\"type\",\"pattern\":\"m.room.member\"},"
    "{\"kind\":\"event_match\",\"key\":\"content.membership\",\"pattern\":\"invite\"},"
    "{\"kind\":\"event_match\",\"key\":\"state_key\",\"pattern\":\"\"}],"
    "\"actions\":[\"notify\",{\"set_tweak\":\"sound\",\"value\":\"default\"},"
    "{\"set_tweak\":\"highlight\",\"value\":false}]},"
    "{\"rule_id\":\".m.rule.member_event\",\"enabled\":true,\"conditions\":["
    "{\"kind\":\"event_match\",\"key\":\"type\",\"pattern\":\"m.room.member\"}],"
    "\"actions\":[\"dont_notify\"]},"
    "{\"rule_id\":\".m.rule.contains_display_name\",\"enabled\":true,\"conditions\":["
    "{\"kind\":\"contains_display_name\"}],"
    "\"actions\":[\"notify\",{\"set_tweak\":\"sound\",\"value\":\"default\"},"
    "{\"set_tweak\":\"highlight\"}]},"
    "{\"rule_id\":\".m.rule.tombstone\",\"enabled\":true,\"conditions\":["
    "{\"kind\":\"event_match\",\"key\":\"type\",\"pattern\":\"m.room.tombstone\"},"
    "{\"kind\":\"event_match\",\"key\":\"state_key\",\"pattern\":\"\"}],"
    "\"actions\":[\"notify\",{\"set_tweak\":\"highlight\",\"value\":true}]},"
    "{\"rule_id\":\".m.rule.roomnotif\",\"enabled\":true,\"conditions\":["
    "{\"kind\":\"event_match\",\"key\":\"content.body\",\"pattern\":\"@room\"},"
    "{\"kind\":\"sender_notification_permission\",\"key\":\"room\"}],"
    "\"actions\":[\"notify\",{\"set_tweak\":\"highlight\",\"value\":true}]}"
    "],\"content\":["
    "{\"rule_id\":\".m.rule.contains_user_name\",\"enabled\":true,\"pattern\":\"\","
    "\"actions\":[\"notify\",{\"set_tweak\":\"sound\",\"value\":\"default\"},"
    "{\"set_tweak\":\"highlight\"}]}"
    "],\"room\":[],\"sender\":[],\"underride\":["
    "{\"rule_id\":\".m.rule.call\",\"enabled\":true,\"conditions\":["
    "{\"kind\":\"event_match\",\"key\":\"type\",\"pattern\":\"m.call.invite\"}],"
    "\"actions\":[\"notify\",{\"set_tweak\":\"sound\",\"value\":\"ring\"},"
    "{\"set_tweak\":\"highlight\",\"value\":false}]},"
    "{\"rule_id\":\".m.rule.encrypted_room_one_to_one\",\"enabled\":true,\"conditions\":["
    "{\"kind\":\"room_member_count\",\"is\":\"2\"},"
    "{\"kind\":\"event_match\",\"key\":\"type\",\"pattern\":\"m.room.encrypted\"}],"
    "\"actions\":[\"notify\",{\"set_tweak\":\"sound\",\"value\":\"default\"},"
    "{\"set_tweak\":\"highlight\",\"value\":false}]},"
    "{\"rule_id\":\".m.rule.room_one_to_one\",\"enabled\":true,\"conditions\":["
    "{\"kind\":\"room_member_count\",\"is\":\"2\"},"
    "{\"kind\":\"event_match\",\"key\":\"type\",\"pattern\":\"m.room.message\"}],"
    "\"actions\":[\"notify\",{\"set_tweak\":\"sound\",\"value\":\"default\"},"
    "{\"set_tweak\":\"highlight\",\"value\":false}]},"
    "{\"rule_id\":\".m.rule.message\",\"enabled\":true,\"conditions\":["
    "{\"kind\":\"event_match\",\"key\":\"type\",\"pattern\":\"m.room.message\"}],"
    "\"actions\":[\"notify\",{\"set_tweak\":\"highlight\",\"value\":false}]},"
    "{\"rule_id\":\".m.rule.encrypted\",\"enabled\":true,\"conditions\":["
    "{\"kind\":\"event_match\",\"key\":\"type\",\"pattern\":\"m.room.encrypted\"}],"
    "\"actions\":[\"notify\",{\"set_tweak\":\"highlight\",\"value\":false}]}"
    "]}";

int
push_kind_parse(const char *s)
{
    for (int k = 0; k < PUSH_NKINDS; k++)
        if (s && strcmp(s, push_kind_names[k]) == 0)
            return k;
    return -1;
}

static void
set_err(char *err, size_t errlen, const char *msg, const char *arg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s%s", msg, arg ? arg : "");
}

/* The default rules with the user's ID and localpart filled in. New reference. */
static json_t *
default_rules(const char *user_id)
{
    json_t *d = json_loads(DEFAULT_RULES, 0, NULL), *rule;
    const char *colon = user_id ? strchr(user_id, ':') : NULL;
    size_t i;

    if (!d)
        abort(); /* a constant: cannot fail */
    if (!user_id)
        return d;
    json_array_foreach(json_object_get(d, "override"), i, rule)
    {
        if (strcmp(json_string_value(json_object_get(rule, "rule_id")), ".m.rule.invite_for_me") ==
            0)
            json_object_set_new(json_array_get(json_object_get(rule, "conditions"), 2), "pattern",
                                json_string(user_id));
    }
    rule = json_array_get(json_object_get(d, "content"), 0);
    if (user_id[0] == '@' && colon)
        json_object_set_new(rule, "pattern",
                            json_stringn(user_id + 1, (size_t)(colon - user_id - 1)));
    else
        json_object_set_new(rule, "pattern", json_string(user_id));
    return d;
}

static long
find_index(const json_t *list, const char *rule_id)
{
    size_t i;
    json_t *rule;

    json_array_foreach(list, i, rule)
    {
        const char *id = json_string_value(json_object_get(rule, "rule_id"));
        if (id && strcmp(id, rule_id) == 0)
            return (long)i;
    }
    return -1;
}

bool
push_rules_is_default(enum push_kind kind, const char *rule_id)
{
    json_t *d;
    bool found;

    if (!rule_id || rule_id[0] != '.')
        return false;
    d = default_rules(NULL);
    found = find_index(json_object_get(d, push_kind_names[kind]), rule_id) >= 0;
    json_decref(d);
    return found;
}

/* A rule as clients see it: the stored fields plus "default". */
static json_t *
client_rule(const json_t *rule, bool is_default, const json_t *change)
{
    json_t *out = json_object();
    json_t *enabled = json_object_get(change, "enabled");
    json_t *actions = json_object_get(change, "actions");
    json_t *v;

    json_object_set(out, "rule_id", json_object_get(rule, "rule_id"));
    json_object_set_new(out, "default", json_boolean(is_default));
    json_object_set_new(out, "enabled",
                        json_boolean(json_is_boolean(enabled)
                                         ? json_is_true(enabled)
                                         : !json_is_false(json_object_get(rule, "enabled"))));
    json_object_set_new(out, "actions",
                        json_deep_copy(actions ? actions : json_object_get(rule, "actions")));
    if ((v = json_object_get(rule, "conditions")))
        json_object_set_new(out, "conditions", json_deep_copy(v));
    if ((v = json_object_get(rule, "pattern")))
        json_object_set(out, "pattern", v);
    return out;
}

json_t *
push_rules_ruleset(const json_t *doc, const char *user_id)
{
    json_t *d = default_rules(user_id), *global = json_object();
    json_t *changes = json_object_get(doc, "defaults");

    for (int k = 0; k < PUSH_NKINDS; k++) {
        json_t *list = json_array(), *rule;
        size_t i;
        json_array_foreach(json_object_get(doc, push_kind_names[k]), i, rule)
            json_array_append_new(list, client_rule(rule, false, NULL));
        json_array_foreach(json_object_get(d, push_kind_names[k]), i, rule)
        {
            const char *id = json_string_value(json_object_get(rule, "rule_id"));
            json_array_append_new(list, client_rule(rule, true, json_object_get(changes, id)));
        }
        json_object_set_new(global, push_kind_names[k], list);
    }
    json_decref(d);
    return json_pack("{s:o}", "global", global);
}

json_t *
push_rules_find(const json_t *ruleset, enum push_kind kind, const char *rule_id)
{
    json_t *list = json_object_get(json_object_get(ruleset, "global"), push_kind_names[kind]);
    long i = find_index(list, rule_id);
    return i >= 0 ? json_array_get(list, (size_t)i) : NULL;
}

bool
push_actions_valid(const json_t *actions)
{
    size_t i;
    json_t *a;

    if (!json_is_array(actions))
        return false;
    json_array_foreach(actions, i, a)
    {
        const char *s = json_string_value(a);
        if (s && (strcmp(s, "notify") == 0 || strcmp(s, "dont_notify") == 0 ||
                  strcmp(s, "coalesce") == 0))
            continue;
        if (json_is_object(a) && json_is_string(json_object_get(a, "set_tweak")))
            continue;
        return false;
    }
    return true;
}

/* The document's list of user rules of a kind, made if missing (borrowed). */
static json_t *
doc_list(json_t *doc, enum push_kind kind)
{
    json_t *list = json_object_get(doc, push_kind_names[kind]);
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(doc, push_kind_names[kind], list);
    }
    return list;
}

static bool
conditions_valid(const json_t *conditions)
{
    size_t i;
    json_t *c;

    if (!json_is_array(conditions))
        return false;
    json_array_foreach(conditions, i, c)
    {
        if (!json_is_object(c) || !json_is_string(json_object_get(c, "kind")))
            return false;
    }
    return true;
}

enum push_edit_rc
push_rules_put(json_t *doc, enum push_kind kind, const char *rule_id, const json_t *body,
               const char *before, const char *after, char *err, size_t errlen)
{
    json_t *list = doc_list(doc, kind), *rule, *actions = json_object_get(body, "actions");
    const char *anchor = before ? before : after;
    long old, at = 0;
    bool enabled = true;

    /* Synapse's rules: IDs with slashes cannot be addressed, and a leading dot is reserved for
     * server-default rules, which can only be changed through /enabled and /actions. */
    if (!*rule_id || strchr(rule_id, '/') || strchr(rule_id, '\\')) {
        set_err(err, errlen, "rule_id may not be empty or contain slashes", NULL);
        return PUSH_EDIT_INVALID;
    }
    if (rule_id[0] == '.') {
        set_err(err, errlen, "rule_ids starting with '.' are reserved for server-default rules",
                NULL);
        return PUSH_EDIT_INVALID;
    }
    if (!push_actions_valid(actions)) {
        set_err(err, errlen, "actions must be a list of notify, dont_notify, coalesce or set_tweak",
                NULL);
        return PUSH_EDIT_INVALID;
    }
    rule = json_pack("{s:s, s:O}", "rule_id", rule_id, "actions", actions);
    if (kind == PUSH_OVERRIDE || kind == PUSH_UNDERRIDE) {
        json_t *conditions = json_object_get(body, "conditions");
        /* SPEC: r0.6.1 says "A rule with no conditions always matches"; Synapse requires the
         * key, and a client that means "always" sends []. Absent means []. */
        if (conditions && !conditions_valid(conditions)) {
            set_err(err, errlen, "conditions must be a list of objects with a kind", NULL);
            json_decref(rule);
            return PUSH_EDIT_INVALID;
        }
        json_object_set_new(rule, "conditions",
                            conditions ? json_deep_copy(conditions) : json_array());
    } else if (kind == PUSH_CONTENT) {
        json_t *pattern = json_object_get(body, "pattern");
        if (!json_is_string(pattern)) {
            set_err(err, errlen, "content rules need a string pattern", NULL);
            json_decref(rule);
            return PUSH_EDIT_INVALID;
        }
        json_object_set(rule, "pattern", pattern);
    }
    old = find_index(list, rule_id);
    if (old >= 0) {
        enabled = !json_is_false(json_object_get(json_array_get(list, (size_t)old), "enabled"));
        json_array_remove(list, (size_t)old);
    }
    if (anchor) {
        long i = find_index(list, anchor);
        if (i < 0) {
            /* SPEC: "It is not possible to add a rule relative to a predefined server rule." */
            set_err(err, errlen, "before/after rule not found: ", anchor);
            json_decref(rule);
            return PUSH_EDIT_INVALID;
        }
        at = before ? i : i + 1;
    }
    json_object_set_new(rule, "enabled", json_boolean(enabled));
    json_array_insert_new(list, (size_t)at, rule);
    return PUSH_EDIT_OK;
}

enum push_edit_rc
push_rules_delete(json_t *doc, enum push_kind kind, const char *rule_id, char *err, size_t errlen)
{
    json_t *list = doc_list(doc, kind);
    long i = find_index(list, rule_id);

    if (i >= 0) {
        json_array_remove(list, (size_t)i);
        return PUSH_EDIT_OK;
    }
    if (push_rules_is_default(kind, rule_id)) {
        set_err(err, errlen, "server-default rules cannot be deleted, only disabled", NULL);
        return PUSH_EDIT_INVALID;
    }
    set_err(err, errlen, "Unknown rule", NULL);
    return PUSH_EDIT_NOT_FOUND;
}

/* The object to change for a rule: the user rule itself, or the default rule's entry in
 * "defaults" (made if missing). NULL if there is no such rule. Borrowed. */
static json_t *
target(json_t *doc, enum push_kind kind, const char *rule_id)
{
    json_t *list = doc_list(doc, kind), *changes, *entry;
    long i = find_index(list, rule_id);

    if (i >= 0)
        return json_array_get(list, (size_t)i);
    if (!push_rules_is_default(kind, rule_id))
        return NULL;
    changes = json_object_get(doc, "defaults");
    if (!json_is_object(changes)) {
        changes = json_object();
        json_object_set_new(doc, "defaults", changes);
    }
    entry = json_object_get(changes, rule_id);
    if (!json_is_object(entry)) {
        entry = json_object();
        json_object_set_new(changes, rule_id, entry);
    }
    return entry;
}

enum push_edit_rc
push_rules_set_enabled(json_t *doc, enum push_kind kind, const char *rule_id, bool enabled,
                       char *err, size_t errlen)
{
    json_t *t = target(doc, kind, rule_id);
    if (!t) {
        set_err(err, errlen, "Unknown rule", NULL);
        return PUSH_EDIT_NOT_FOUND;
    }
    json_object_set_new(t, "enabled", json_boolean(enabled));
    return PUSH_EDIT_OK;
}

enum push_edit_rc
push_rules_set_actions(json_t *doc, enum push_kind kind, const char *rule_id, const json_t *actions,
                       char *err, size_t errlen)
{
    json_t *t;

    if (!push_actions_valid(actions)) {
        set_err(err, errlen, "actions must be a list of notify, dont_notify, coalesce or set_tweak",
                NULL);
        return PUSH_EDIT_INVALID;
    }
    t = target(doc, kind, rule_id);
    if (!t) {
        set_err(err, errlen, "Unknown rule", NULL);
        return PUSH_EDIT_NOT_FOUND;
    }
    json_object_set_new(t, "actions", json_deep_copy(actions));
    return PUSH_EDIT_OK;
}
