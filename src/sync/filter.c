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
    /* '*' matches any run of characters, anywhere in the pattern (as Synapse's glob). */
    const char *star = NULL, *resume = NULL;
    while (*type) {
        if (*pattern == '*') {
            star = pattern++;
            resume = type;
        } else if (*pattern == *type) {
            pattern++;
            type++;
        } else if (star) {
            pattern = star + 1;
            type = ++resume;
        } else {
            return false;
        }
    }
    while (*pattern == '*')
        pattern++;
    return *pattern == '\0';
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

/* Does the filter hold any field that can exclude an event? (sync speed, issue 4: a sync's
 * filters are mostly just a limit, and looking up seven absent fields per event was 3% of
 * an initial sync.) */
static bool
selects_events(const json_t *f)
{
    static const char *const fields[] = {"types", "not_types", "senders",     "not_senders",
                                         "rooms", "not_rooms", "contains_url"};
    const char *key;
    json_t *value;

    json_object_foreach((json_t *)f, key, value)
    {
        for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
            if (strcmp(key, fields[i]) == 0)
                return true;
    }
    return false;
}

bool
filter_event_matches(const struct event_filter *f, const char *room_id, const json_t *ev)
{
    const json_t *cu;

    if (!selects_events(f->json))
        return true;
    cu = json_object_get(f->json, "contains_url");

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

static int
sub_filter(const json_t *parent, const char *key, struct event_filter *out, char *err,
           size_t errlen)
{
    const json_t *v = json_object_get(parent, key);
    char inner[200];

    if (filter_parse(v, out, inner, sizeof(inner)) != 0) {
        snprintf(err, errlen, "%s: %s", key, inner);
        return -1;
    }
    return 0;
}

int
sync_filter_parse(const json_t *json, struct sync_filter *out, char *err, size_t errlen)
{
    const json_t *room, *v, *e;
    size_t i;

    memset(out, 0, sizeof(*out));
    out->json = json ? json_incref((json_t *)json) : json_object();
    json = out->json;
    if (!json_is_object(json)) {
        snprintf(err, errlen, "filter must be an object");
        goto fail;
    }
    v = json_object_get(json, "event_fields");
    if (v) {
        if (!json_is_array(v))
            goto bad_fields;
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e))
                goto bad_fields;
        }
        out->event_fields = (json_t *)v;
    }
    v = json_object_get(json, "event_format");
    if (v) {
        if (!json_is_string(v) || (strcmp(json_string_value(v), "client") != 0 &&
                                   strcmp(json_string_value(v), "federation") != 0)) {
            snprintf(err, errlen, "event_format must be 'client' or 'federation'");
            goto fail;
        }
        out->federation_format = strcmp(json_string_value(v), "federation") == 0;
    }
    room = json_object_get(json, "room");
    if (room && !json_is_object(room)) {
        snprintf(err, errlen, "room must be an object");
        goto fail;
    }
    if (sub_filter(json, "presence", &out->presence, err, errlen) != 0 ||
        sub_filter(json, "account_data", &out->account_data, err, errlen) != 0 ||
        sub_filter(room, "timeline", &out->timeline, err, errlen) != 0 ||
        sub_filter(room, "state", &out->state, err, errlen) != 0 ||
        sub_filter(room, "ephemeral", &out->ephemeral, err, errlen) != 0 ||
        sub_filter(room, "account_data", &out->room_account_data, err, errlen) != 0)
        goto fail;
    if (check_string_list(room, "rooms", err, errlen) != 0 ||
        check_string_list(room, "not_rooms", err, errlen) != 0)
        goto fail;
    out->rooms = json_object_get(room, "rooms");
    out->not_rooms = json_object_get(room, "not_rooms");
    v = json_object_get(room, "include_leave");
    if (v && !json_is_boolean(v)) {
        snprintf(err, errlen, "room.include_leave must be a boolean");
        goto fail;
    }
    out->include_leave = json_is_true(v);
    return 0;
bad_fields:
    snprintf(err, errlen, "event_fields must be a list of strings");
fail:
    sync_filter_clear(out);
    return -1;
}

void
sync_filter_clear(struct sync_filter *f)
{
    filter_clear(&f->presence);
    filter_clear(&f->account_data);
    filter_clear(&f->timeline);
    filter_clear(&f->state);
    filter_clear(&f->ephemeral);
    filter_clear(&f->room_account_data);
    json_decref(f->json);
    memset(f, 0, sizeof(*f));
}

bool
sync_filter_room_included(const struct sync_filter *f, const char *room_id)
{
    if (f->not_rooms && listed(f->not_rooms, room_id, false))
        return false;
    return !f->rooms || listed(f->rooms, room_id, false);
}

/* Splits the next part of a dotted path into part; returns the rest (after the dot) or "". */
static const char *
next_part(const char *p, char *part, size_t cap)
{
    size_t n = 0;
    /* SPEC: "A literal . character in a field name may be escaped using a \." */
    while (*p && *p != '.' && n + 1 < cap) {
        if (*p == '\\' && p[1] == '.') {
            part[n++] = '.';
            p += 2;
        } else {
            part[n++] = *p++;
        }
    }
    part[n] = '\0';
    return *p == '.' ? p + 1 : p;
}

static bool
path_exists(const json_t *v, const char *p)
{
    char part[256];
    while (*p) {
        p = next_part(p, part, sizeof(part));
        v = json_object_get(v, part);
        if (!v)
            return false;
    }
    return true;
}

/* Copies the value at a dotted path of src into dst, creating objects on the way. */
static void
copy_path(const json_t *src, json_t *dst, const char *path)
{
    char part[256];
    const json_t *cur = src;
    json_t *out = dst;
    const char *p = path;

    if (!path_exists(src, path))
        return;
    while (*p) {
        size_t n = 0;
        /* SPEC: "A literal . character in a field name may be escaped using a \." */
        while (*p && *p != '.' && n + 1 < sizeof(part)) {
            if (*p == '\\' && p[1] == '.') {
                part[n++] = '.';
                p += 2;
            } else {
                part[n++] = *p++;
            }
        }
        part[n] = '\0';
        cur = json_object_get(cur, part);
        if (!cur)
            return;
        if (*p == '.') {
            json_t *next;
            p++;
            if (!json_is_object(cur))
                return;
            next = json_object_get(out, part);
            if (!json_is_object(next)) {
                next = json_object();
                json_object_set_new(out, part, next);
            }
            out = next;
        } else {
            json_object_set(out, part, (json_t *)cur);
        }
    }
}

json_t *
sync_filter_apply_fields(const struct sync_filter *f, json_t *ev)
{
    json_t *out, *e;
    size_t i;

    if (!f->event_fields)
        return json_incref(ev);
    out = json_object();
    json_array_foreach(f->event_fields, i, e) copy_path(ev, out, json_string_value(e));
    return out;
}
