#include "sync/filter.h"

#include <stdio.h>
#include <string.h>

static int
check_string_list(const json_t *json, const char *key, char *err, size_t errlen)
{
    json_t *v = json_object_get(json, key), *e;
    size_t i;

    if (!v)
        return 0;
    if (!json_is_array(v)) {
        snprintf(err, errlen, "filter: '%s' must be a list of strings", key);
        return -1;
    }
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e)) {
            snprintf(err, errlen, "filter: '%s' must be a list of strings", key);
            return -1;
        }
    }
    return 0;
}

int
filter_parse(const json_t *json, struct event_filter *out, char *err, size_t errlen)
{
    static const char *const lists[] = {"types",       "not_types", "senders",
                                        "not_senders", "rooms",     "not_rooms"};
    static const char *const bools[] = {"lazy_load_members", "include_redundant_members",
                                        "contains_url"};
    json_t *v;

    memset(out, 0, sizeof(*out));
    out->limit = -1;
    if (!json) {
        out->json = json_object();
        return 0;
    }
    if (!json_is_object(json)) {
        snprintf(err, errlen, "filter must be an object");
        return -1;
    }
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
        if (check_string_list(json, lists[i], err, errlen) != 0)
            return -1;
    for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
        v = json_object_get(json, bools[i]);
        if (v && !json_is_boolean(v)) {
            snprintf(err, errlen, "filter: '%s' must be a boolean", bools[i]);
            return -1;
        }
    }
    v = json_object_get(json, "limit");
    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            snprintf(err, errlen, "filter: 'limit' must be a non-negative integer");
            return -1;
        }
        out->limit = (long)json_integer_value(v);
    }
    out->lazy_load_members = json_is_true(json_object_get(json, "lazy_load_members"));
    out->include_redundant_members =
        json_is_true(json_object_get(json, "include_redundant_members"));
    out->json = json_incref((json_t *)json);
    return 0;
}

void
filter_clear(struct event_filter *f)
{
    json_decref(f->json);
    memset(f, 0, sizeof(*f));
}

bool
filter_type_matches(const char *pattern, const char *type)
{
    size_t n = strlen(pattern);
    if (n > 0 && pattern[n - 1] == '*')
        return strncmp(pattern, type, n - 1) == 0;
    return strcmp(pattern, type) == 0;
}

/* In the list? `types` match with wildcards, others exactly. */
static bool
listed(const json_t *list, const char *value, bool wildcard)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *p = json_string_value(e);
        if (wildcard ? filter_type_matches(p, value) : strcmp(p, value) == 0)
            return true;
    }
    return false;
}

/* SPEC: a value is allowed if it is not in the not_ list and, when the list is present, in
 * it; the not_ list wins. */
static bool
allowed(const json_t *f, const char *key, const char *not_key, const char *value, bool wildcard)
{
    const json_t *yes = json_object_get(f, key), *no = json_object_get(f, not_key);
    if (!value)
        return !yes;
    if (no && listed(no, value, wildcard))
        return false;
    return !yes || listed(yes, value, wildcard);
}

bool
filter_event_matches(const struct event_filter *f, const char *room_id, const json_t *ev)
{
    const json_t *cu = json_object_get(f->json, "contains_url");

    if (!allowed(f->json, "types", "not_types", json_string_value(json_object_get(ev, "type")),
                 true))
        return false;
    if (!allowed(f->json, "senders", "not_senders",
                 json_string_value(json_object_get(ev, "sender")), false))
        return false;
    if (room_id && !allowed(f->json, "rooms", "not_rooms", room_id, false))
        return false;
    if (json_is_boolean(cu)) {
        bool has_url = json_object_get(json_object_get(ev, "content"), "url") != NULL;
        if (json_is_true(cu) != has_url)
            return false;
    }
    return true;
}
