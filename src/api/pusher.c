/* pusher.yaml: the user's pushers. An http pusher's notifications are posted to its gateway by
 * the push service (src/push/delivery.c); an email pusher is stored and listed, but nothing is
 * mailed yet (that waits for 3PID and mail support). A pusher belongs to the device of the
 * access token that set it and goes when that device logs out or is deleted (as Synapse). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "core/util.h"
#include "json/json.h"
#include "store/store.h"

#define NOTIFY_PATH "/_matrix/push/v1/notify"

json_t *
api_pushers_json(struct hs *hs, const char *user_id)
{
    struct store_pusher *list = NULL;
    size_t n = 0;
    json_t *out;

    if (store_pushers_list(hs->store, user_id, &list, &n) != STORE_OK)
        return NULL;
    out = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *data = json_loads(list[i].data, 0, NULL);
        json_t *p =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "pushkey", list[i].pushkey, "kind",
                      list[i].kind, "app_id", list[i].app_id, "app_display_name",
                      list[i].app_display_name, "device_display_name", list[i].device_display_name,
                      "lang", list[i].lang, "data", json_is_object(data) ? data : json_object());
        if (!json_is_object(data))
            json_decref(data);
        if (list[i].profile_tag)
            json_object_set_new(p, "profile_tag", json_string(list[i].profile_tag));
        json_array_append_new(out, p);
    }
    store_pushers_free(list, n);
    return out;
}

/* GET /_matrix/client/r0/pushers */
void
pushers_get(struct req *r)
{
    json_t *out = api_pushers_json(r->hs, r->user_id);

    if (!out) {
        reply_internal(r, "pushers lookup failed");
        return;
    }
    reply_json(r, 200, json_pack("{s:o}", "pushers", out));
}

/* SPEC: data.url "MUST be an HTTPS URL with a path of /_matrix/push/v1/notify". Like Synapse
 * only the path is enforced: gateways on plain HTTP (a local one, tests) work too. */
static bool
gateway_url_ok(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *path = NULL;
    bool ok;

    ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
         curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK &&
         (strcmp(scheme, "https") == 0 || strcmp(scheme, "http") == 0) &&
         strcmp(path, NOTIFY_PATH) == 0;
    curl_free(scheme);
    curl_free(path);
    curl_url_cleanup(u);
    return ok;
}

/* POST /_matrix/client/r0/pushers/set */
void
pushers_set(struct req *r)
{
    static const char *const required[] = {
        "kind", "app_id", "app_display_name", "device_display_name", "pushkey", "lang", "data"};
    json_t *kind = json_object_get(r->json, "kind"), *data = json_object_get(r->json, "data");
    json_t *append = json_object_get(r->json, "append");
    json_t *tag = json_object_get(r->json, "profile_tag");
    const char *app_id = json_string_value(json_object_get(r->json, "app_id"));
    const char *pushkey = json_string_value(json_object_get(r->json, "pushkey"));
    char missing[256] = "";
    size_t mlen = 0;
    struct store_pusher p = {0};
    char *data_text;
    enum store_rc rc;

    /* SPEC: kind: "null deletes the pusher" (the one with this app_id and pushkey). */
    if (json_is_null(kind)) {
        if (!app_id || !pushkey) {
            reply_error(r, MERR_MISSING_PARAM, "app_id and pushkey are required");
            return;
        }
        if (store_pusher_delete(r->hs->store, r->user_id, app_id, pushkey) != STORE_OK) {
            reply_internal(r, "pusher delete failed");
            return;
        }
        reply_empty(r);
        return;
    }
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        int w;
        if (json_object_get(r->json, required[i]))
            continue;
        w = snprintf(missing + mlen, sizeof(missing) - mlen, "%s%s", mlen ? ", " : "", required[i]);
        if (w > 0 && (size_t)w < sizeof(missing) - mlen)
            mlen += (size_t)w;
    }
    if (*missing) {
        reply_error(r, MERR_MISSING_PARAM, "Missing parameters: %s", missing);
        return;
    }
    for (size_t i = 0; i + 1 < sizeof(required) / sizeof(required[0]); i++) {
        if (!json_is_string(json_object_get(r->json, required[i]))) {
            reply_error(r, MERR_INVALID_PARAM, "%s must be a string", required[i]);
            return;
        }
    }
    if (!json_is_object(data)) {
        reply_error(r, MERR_INVALID_PARAM, "data must be an object");
        return;
    }
    if ((tag && !json_is_string(tag)) || (append && !json_is_boolean(append))) {
        reply_error(r, MERR_INVALID_PARAM, "profile_tag must be a string, append a boolean");
        return;
    }
    /* SPEC: pushkey "Max length, 512 bytes"; app_id "Max length, 64 chars". */
    if (strlen(pushkey) > 512 || strlen(app_id) > 64 || !*pushkey || !*app_id) {
        reply_error(r, MERR_INVALID_PARAM,
                    "pushkey (up to 512 bytes) and app_id (up to 64 "
                    "characters) must not be empty or too long");
        return;
    }
    if (strcmp(json_string_value(kind), "http") == 0) {
        json_t *url = json_object_get(data, "url"), *format = json_object_get(data, "format");
        if (!json_is_string(url) || !gateway_url_ok(json_string_value(url))) {
            reply_error(r, MERR_INVALID_PARAM,
                        "data.url must be an http(s) URL with the path " NOTIFY_PATH);
            return;
        }
        if (format && !json_is_string(format)) {
            reply_error(r, MERR_INVALID_PARAM, "data.format must be a string");
            return;
        }
    } else if (strcmp(json_string_value(kind), "email") != 0) {
        reply_error(r, MERR_INVALID_PARAM, "kind must be http, email or null");
        return;
    }
    data_text = json_dump_compact(data);
    p = (struct store_pusher){
        .user_id = (char *)r->user_id,
        .device_id = (char *)r->device_id,
        .kind = (char *)json_string_value(kind),
        .app_id = (char *)app_id,
        .pushkey = (char *)pushkey,
        .app_display_name = (char *)json_string_value(json_object_get(r->json, "app_display_name")),
        .device_display_name =
            (char *)json_string_value(json_object_get(r->json, "device_display_name")),
        .profile_tag = (char *)json_string_value(tag),
        .lang = (char *)json_string_value(json_object_get(r->json, "lang")),
        .data = data_text,
        .pushkey_ts = util_now_ms(),
    };
    rc = store_pusher_set(r->hs->store, &p, json_is_true(append));
    free(data_text);
    if (rc != STORE_OK) {
        reply_internal(r, "pusher store failed");
        return;
    }
    reply_empty(r);
}
