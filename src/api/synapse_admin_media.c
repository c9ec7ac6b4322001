/* Synapse's media admin API (docs/admin_api/media_admin_api.md) and event reports API
 * (docs/admin_api/event_reports.md). Quarantine itself is in content_repo.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/synapse_admin.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "json/json.h"
#include "media/media.h"
#include "rooms/rooms.h"
#include "store/store.h"

#define DEFAULT_LIMIT 100
/* Synapse refuses a before_ts that looks like seconds. */
#define MIN_MS_TS 30000000000LL

static bool
local_media_or_reply(struct req *r, const char *server)
{
    if (strcmp(server, r->hs->cfg->server_name) != 0) {
        reply_error(r, MERR_INVALID_PARAM, "Can only delete local media");
        return false;
    }
    return true;
}

/* DELETE /_synapse/admin/v1/media/{serverName}/{mediaId} */
void
synapse_admin_media_delete(struct req *r)
{
    if (!synapse_admin_check_or_reply(r) || !local_media_or_reply(r, r->params[0]))
        return;
    if (!media_id_valid(r->params[1])) {
        reply_error(r, MERR_NOT_FOUND, "Unknown media");
        return;
    }
    switch (media_delete(r->hs->media, r->params[1])) {
    case MEDIA_OK:
        log_info("%s deleted media %s", r->user_id, r->params[1]);
        reply_json(r, 200, json_pack("{s:[s], s:i}", "deleted_media", r->params[1], "total", 1));
        break;
    case MEDIA_NOT_FOUND:
        reply_error(r, MERR_NOT_FOUND, "Unknown media");
        break;
    default:
        reply_internal(r, "media delete failed");
        break;
    }
}

/* POST /_synapse/admin/v1/media/{serverName}/delete?before_ts=&size_gt=&keep_profiles= */
void
synapse_admin_media_delete_old(struct req *r)
{
    int64_t before_ts, size_gt;
    bool keep_profiles;
    char **ids = NULL;
    size_t n = 0;
    json_t *deleted;

    if (!synapse_admin_check_or_reply(r) || !local_media_or_reply(r, r->params[0]))
        return;
    if (!req_has_query(r, "before_ts")) {
        reply_error(r, MERR_MISSING_PARAM, "Missing integer query parameter 'before_ts'");
        return;
    }
    if (!synapse_admin_query_int(r, "before_ts", 0, &before_ts) ||
        !synapse_admin_query_int(r, "size_gt", 0, &size_gt) ||
        !synapse_admin_query_bool(r, "keep_profiles", true, &keep_profiles))
        return;
    if (before_ts < MIN_MS_TS) {
        reply_error(r, MERR_INVALID_PARAM,
                    "Query parameter before_ts you provided is from the year 1970. Double check "
                    "that you are providing a timestamp in milliseconds.");
        return;
    }
    if (store_media_old(r->hs->store, before_ts, size_gt, keep_profiles, &ids, &n) != STORE_OK) {
        reply_internal(r, "media list failed");
        return;
    }
    deleted = json_array();
    for (size_t i = 0; i < n; i++) {
        enum media_rc mrc = media_delete(r->hs->media, ids[i]);
        if (mrc == MEDIA_OK)
            json_array_append_new(deleted, json_string(ids[i]));
        else if (mrc != MEDIA_NOT_FOUND)
            log_warn("could not delete media %s", ids[i]);
    }
    store_strings_free(ids, n);
    log_info("%s deleted %zu media older than %lld", r->user_id, json_array_size(deleted),
             (long long)before_ts);
    reply_json(r, 200,
               json_pack("{s:o, s:I}", "deleted_media", deleted, "total",
                         (json_int_t)json_array_size(deleted)));
}

static void
protect(struct req *r, bool on)
{
    if (!synapse_admin_check_or_reply(r))
        return;
    if (!media_id_valid(r->params[0])) {
        reply_error(r, MERR_NOT_FOUND, "Unknown media");
        return;
    }
    switch (store_media_set_protected(r->hs->store, r->params[0], on)) {
    case STORE_OK:
        reply_empty(r);
        break;
    case STORE_NOT_FOUND:
        reply_error(r, MERR_NOT_FOUND, "Unknown media");
        break;
    default:
        reply_internal(r, "media update failed");
        break;
    }
}

/* POST /_synapse/admin/v1/media/protect/{mediaId} */
void
synapse_admin_media_protect(struct req *r)
{
    protect(r, true);
}

/* POST /_synapse/admin/v1/media/unprotect/{mediaId} */
void
synapse_admin_media_unprotect(struct req *r)
{
    protect(r, false);
}

/* POST /_synapse/admin/v1/purge_media_cache: Hearth does not fetch remote media (no
 * federation), so its cache of it is always empty. */
void
synapse_admin_purge_media_cache(struct req *r)
{
    int64_t before_ts;

    if (!synapse_admin_check_or_reply(r))
        return;
    if (!req_has_query(r, "before_ts")) {
        reply_error(r, MERR_MISSING_PARAM, "Missing integer query parameter 'before_ts'");
        return;
    }
    if (!synapse_admin_query_int(r, "before_ts", 0, &before_ts))
        return;
    reply_json(r, 200, json_pack("{s:i}", "deleted", 0));
}

/* ---- event reports ---- */

static json_t *
report_json(struct req *r, const struct store_report *rep, bool details)
{
    json_t *o = json_pack("{s:I, s:I, s:s, s:s, s:s}", "id", (json_int_t)rep->id, "received_ts",
                          (json_int_t)rep->received_ts, "room_id", rep->room_id, "event_id",
                          rep->event_id, "user_id", rep->user_id);
    json_t *name = rooms_state_content(r->hs->rooms, rep->room_id, "m.room.name", "");
    json_t *alias = rooms_state_content(r->hs->rooms, rep->room_id, "m.room.canonical_alias", "");
    const char *s;

    json_object_set_new(o, "reason", rep->reason ? json_string(rep->reason) : json_null());
    json_object_set_new(o, "score", rep->has_score ? json_integer(rep->score) : json_null());
    json_object_set_new(o, "sender", rep->sender ? json_string(rep->sender) : json_null());
    s = json_string_value(json_object_get(name, "name"));
    json_object_set_new(o, "name", s ? json_string(s) : json_null());
    s = json_string_value(json_object_get(alias, "alias"));
    json_object_set_new(o, "canonical_alias", s ? json_string(s) : json_null());
    json_decref(name);
    json_decref(alias);
    if (details) {
        struct store_event ev;
        json_t *event = NULL;
        if (store_event_get(r->hs->store, rep->event_id, &ev) == STORE_OK)
            event = json_loads(ev.json, 0, NULL);
        store_event_clear(&ev);
        json_object_set_new(o, "event_json", event ? event : json_null());
    }
    return o;
}

/* GET /_synapse/admin/v1/event_reports */
void
synapse_admin_event_reports(struct req *r)
{
    struct store_report *list = NULL;
    int64_t from, limit, total = 0;
    bool backwards;
    size_t n = 0;
    json_t *reports, *out;

    if (!synapse_admin_check_or_reply(r))
        return;
    if (!synapse_admin_query_int(r, "from", 0, &from) ||
        !synapse_admin_query_int(r, "limit", DEFAULT_LIMIT, &limit) ||
        !synapse_admin_query_dir(r, true, &backwards))
        return;
    if (store_reports_list(r->hs->store, from, limit, backwards, req_query(r, "user_id"),
                           req_query(r, "room_id"), &list, &n, &total) != STORE_OK) {
        reply_internal(r, "report list failed");
        return;
    }
    reports = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(reports, report_json(r, &list[i], false));
    store_reports_free(list, n);
    out = json_pack("{s:o, s:I}", "event_reports", reports, "total", (json_int_t)total);
    if (from + (int64_t)n < total)
        json_object_set_new(out, "next_token", json_integer(from + (json_int_t)n));
    reply_json(r, 200, out);
}

static bool
report_id_or_reply(struct req *r, int64_t *id)
{
    if (!synapse_admin_check_or_reply(r))
        return false;
    if (util_parse_int64(r->params[0], id) != 0 || *id < 0) {
        reply_error(r, MERR_INVALID_PARAM,
                    "The report_id parameter must be a string representing a positive integer.");
        return false;
    }
    return true;
}

/* GET /_synapse/admin/v1/event_reports/{reportId} */
void
synapse_admin_event_report_get(struct req *r)
{
    struct store_report rep;
    int64_t id;
    enum store_rc rc;

    if (!report_id_or_reply(r, &id))
        return;
    rc = store_report_get(r->hs->store, id, &rep);
    if (rc == STORE_NOT_FOUND)
        reply_error(r, MERR_NOT_FOUND, "Event report not found");
    else if (rc != STORE_OK)
        reply_internal(r, "report lookup failed");
    else
        reply_json(r, 200, report_json(r, &rep, true));
    store_report_clear(&rep);
}

/* DELETE /_synapse/admin/v1/event_reports/{reportId} */
void
synapse_admin_event_report_delete(struct req *r)
{
    int64_t id;
    enum store_rc rc;

    if (!report_id_or_reply(r, &id))
        return;
    rc = store_report_delete(r->hs->store, id);
    if (rc == STORE_NOT_FOUND)
        reply_error(r, MERR_NOT_FOUND, "Event report not found");
    else if (rc != STORE_OK)
        reply_internal(r, "report delete failed");
    else
        reply_empty(r);
}

/* ---- statistics and room media (what synapse-admin's pages show) ---- */

/* GET /_synapse/admin/v1/statistics/users/media */
void
synapse_admin_media_statistics(struct req *r)
{
    const char *order_by = req_query(r, "order_by");
    struct store_media_usage *list = NULL;
    int64_t from, limit, total = 0;
    bool backwards;
    size_t n = 0;
    json_t *users, *out;

    if (!synapse_admin_check_or_reply(r))
        return;
    if (!synapse_admin_query_int(r, "from", 0, &from) ||
        !synapse_admin_query_int(r, "limit", DEFAULT_LIMIT, &limit) ||
        !synapse_admin_query_dir(r, false, &backwards))
        return;
    if (order_by && !store_media_usage_order_ok(order_by)) {
        reply_error(r, MERR_INVALID_PARAM, "Unknown value for order_by: %s", order_by);
        return;
    }
    if (store_media_usage(r->hs->store, from, limit, order_by, backwards,
                          req_query(r, "search_term"), &list, &n, &total) != STORE_OK) {
        reply_internal(r, "media statistics failed");
        return;
    }
    users = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *u = json_pack("{s:s, s:I, s:I}", "user_id", list[i].user_id, "media_count",
                              (json_int_t)list[i].media_count, "media_length",
                              (json_int_t)list[i].media_length);
        json_object_set_new(u, "displayname",
                            list[i].displayname ? json_string(list[i].displayname) : json_null());
        json_array_append_new(users, u);
    }
    store_media_usage_free(list, n);
    out = json_pack("{s:o, s:I}", "users", users, "total", (json_int_t)total);
    if (from + (int64_t)n < total)
        json_object_set_new(out, "next_token", json_integer(from + (json_int_t)n));
    reply_json(r, 200, out);
}

/* Adds every mxc:// URI in the JSON text to local or remote (sets, by URI). */
static void
collect_mxc(const char *json, const char *server_name, json_t *local, json_t *remote)
{
    size_t slen = strlen(server_name);

    for (const char *p = strstr(json, "mxc://"); p; p = strstr(p + 6, "mxc://")) {
        size_t len = strcspn(p, "\"\\ ");
        const char *slash = memchr(p + 6, '/', len > 6 ? len - 6 : 0);
        char *uri;
        if (!slash || slash + 1 >= p + len)
            continue;
        uri = xstrndup(p, len);
        json_object_set_new(
            (size_t)(slash - (p + 6)) == slen && strncmp(p + 6, server_name, slen) == 0 ? local
                                                                                        : remote,
            uri, json_true());
        free(uri);
    }
}

/* GET /_synapse/admin/v1/room/{roomId}/media: the media the room's events mention. */
void
synapse_admin_room_media(struct req *r)
{
    json_t *local = json_object(), *remote = json_object(), *la = json_array(), *ra = json_array();
    char **jsons = NULL, *version = NULL, *creator = NULL;
    size_t n = 0;
    const char *uri;
    json_t *v;
    enum store_rc rc;

    if (!synapse_admin_check_or_reply(r))
        goto out;
    rc = store_room_get(r->hs->store, r->params[0], &version, &creator);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "Room not found");
        goto out;
    }
    if (rc != STORE_OK ||
        store_room_event_jsons(r->hs->store, r->params[0], &jsons, &n) != STORE_OK) {
        reply_internal(r, "room media lookup failed");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        collect_mxc(jsons[i], r->hs->cfg->server_name, local, remote);
    json_object_foreach(local, uri, v)
    {
        json_array_append_new(la, json_string(uri));
    }
    json_object_foreach(remote, uri, v)
    {
        json_array_append_new(ra, json_string(uri));
    }
    reply_json(r, 200, json_pack("{s:O, s:O}", "local", la, "remote", ra));
out:
    store_strings_free(jsons, n);
    free(version);
    free(creator);
    json_decref(local);
    json_decref(remote);
    json_decref(la);
    json_decref(ra);
}
