#include "room/redact.h"

#include <stdint.h>
#include <string.h>

/* SPEC: rooms/v1 Redactions "the server must strip off any keys not in the following list" */
static const char *const kept_keys[] = {
    "event_id",   "type",
    "room_id",    "sender",
    "state_key",  "content",
    "hashes",     "signatures",
    "depth",      "prev_events",
    "prev_state", "auth_events",
    "origin",     "origin_server_ts",
    "membership",
};

struct content_rule {
    const char *type;
    const char *const *keys; /* NULL-terminated */
    bool aliases;            /* the m.room.aliases rule, dropped in v6 */
};

static const char *const member_keys[] = {"membership", NULL};
static const char *const create_keys[] = {"creator", NULL};
static const char *const join_rules_keys[] = {"join_rule", NULL};
static const char *const power_levels_keys[] = {"ban",   "events",        "events_default",
                                                "kick",  "redact",        "state_default",
                                                "users", "users_default", NULL};
static const char *const aliases_keys[] = {"aliases", NULL};
static const char *const history_visibility_keys[] = {"history_visibility", NULL};

/* SPEC: rooms/v1 Redactions "The content object must also be stripped of all keys, unless it
 * is one of one of the following event types" */
static const struct content_rule content_rules[] = {
    {"m.room.member", member_keys, false},
    {"m.room.create", create_keys, false},
    {"m.room.join_rules", join_rules_keys, false},
    {"m.room.power_levels", power_levels_keys, false},
    /* SPEC: rooms/v6 Redactions "all special meaning has been removed for events of type
     * m.room.aliases" */
    {"m.room.aliases", aliases_keys, true},
    {"m.room.history_visibility", history_visibility_keys, false},
};

static bool
in_list(const char *key, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n && list[i]; i++)
        if (strcmp(list[i], key) == 0)
            return true;
    return false;
}

static const struct content_rule *
rule_for(const char *type, const struct room_version *v)
{
    if (!type)
        return NULL;
    for (size_t i = 0; i < sizeof(content_rules) / sizeof(content_rules[0]); i++) {
        const struct content_rule *r = &content_rules[i];
        if (strcmp(r->type, type) != 0)
            continue;
        if (r->aliases && !v->special_case_aliases)
            return NULL;
        return r;
    }
    return NULL;
}

static json_t *
redact_content(const json_t *content, const char *type, const struct room_version *v)
{
    const struct content_rule *r = rule_for(type, v);
    json_t *out = json_object();
    const char *key;
    json_t *val;

    if (!r || !json_is_object(content))
        return out;
    json_object_foreach((json_t *)content, key, val)
    {
        if (in_list(key, r->keys, SIZE_MAX))
            json_object_set_new(out, key, json_deep_copy(val));
    }
    /* Kept for when a version redacts "notifications" too (v6 in this table does not). */
    if (v->notifications_pl_redacted && strcmp(type, "m.room.power_levels") == 0) {
        json_t *n = json_object_get(content, "notifications");
        if (n)
            json_object_set_new(out, "notifications", json_deep_copy(n));
    }
    return out;
}

json_t *
redact_event(const json_t *ev, const struct room_version *v)
{
    json_t *out = json_object();
    const char *key;
    json_t *val;

    if (!json_is_object(ev))
        return out;
    json_object_foreach((json_t *)ev, key, val)
    {
        if (!in_list(key, kept_keys, sizeof(kept_keys) / sizeof(kept_keys[0])))
            continue;
        if (strcmp(key, "content") == 0)
            json_object_set_new(
                out, key, redact_content(val, json_string_value(json_object_get(ev, "type")), v));
        else
            json_object_set_new(out, key, json_deep_copy(val));
    }
    return out;
}
