/* filter.yaml: uploading and downloading sync filters. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "core/util.h"
#include "json/json.h"
#include "store/store.h"
#include "sync/filter.h"

/* Only one's own filters: replies 403 otherwise. */
static bool
own_or_reply(struct req *r)
{
    if (strcmp(r->params[0], r->user_id) != 0) {
        reply_error(r, MERR_FORBIDDEN, "Cannot use filters of other users");
        return false;
    }
    return true;
}

/* POST /_matrix/client/r0/user/{userId}/filter */
void
filter_post(struct req *r)
{
    struct sync_filter f;
    char err[256], *text, id[32];
    int64_t filter_id;
    enum store_rc rc;

    if (!own_or_reply(r))
        return;
    if (sync_filter_parse(r->json, &f, err, sizeof(err)) != 0) {
        reply_error(r, MERR_BAD_JSON, "%s", err);
        return;
    }
    sync_filter_clear(&f);
    text = json_dump_compact(r->json);
    rc = store_filter_put(r->hs->store, r->user_id, text, &filter_id);
    free(text);
    if (rc != STORE_OK) {
        reply_internal(r, "filter store failed");
        return;
    }
    snprintf(id, sizeof(id), "%lld", (long long)filter_id);
    reply_json(r, 200, json_pack("{s:s}", "filter_id", id));
}

/* GET /_matrix/client/r0/user/{userId}/filter/{filterId} */
void
filter_get(struct req *r)
{
    int64_t id;
    char *text = NULL;
    enum store_rc rc;
    json_t *json;

    if (!own_or_reply(r))
        return;
    if (util_parse_int64(r->params[1], &id) != 0 || id < 0) {
        reply_error(r, MERR_NOT_FOUND, "No such filter");
        return;
    }
    rc = store_filter_get(r->hs->store, r->user_id, id, &text);
    if (rc == STORE_NOT_FOUND) {
        reply_error(r, MERR_NOT_FOUND, "No such filter");
        return;
    }
    if (rc != STORE_OK || !(json = json_loads(text, 0, NULL))) {
        free(text);
        reply_internal(r, "filter load failed");
        return;
    }
    free(text);
    reply_json(r, 200, json);
}

/* The filter for a /sync: ?filter= is a filter ID or inline JSON. Replies and returns -1 if
 * it is bad. */
int
api_sync_filter_or_reply(struct req *r, struct sync_filter *f)
{
    const char *param = req_query(r, "filter");
    json_t *json = NULL;
    char err[256];
    int64_t id;
    int rc;

    if (!param || !*param)
        return sync_filter_parse(NULL, f, err, sizeof(err));
    if (param[0] == '{') {
        json = json_loads(param, JSON_REJECT_DUPLICATES, NULL);
        if (!json) {
            reply_error(r, MERR_BAD_JSON, "filter is not valid JSON");
            return -1;
        }
    } else {
        char *text = NULL;
        if (util_parse_int64(param, &id) != 0 ||
            store_filter_get(r->hs->store, r->user_id, id, &text) != STORE_OK ||
            !(json = json_loads(text, 0, NULL))) {
            free(text);
            reply_error(r, MERR_INVALID_PARAM, "Unknown filter ID");
            return -1;
        }
        free(text);
    }
    rc = sync_filter_parse(json, f, err, sizeof(err));
    json_decref(json);
    if (rc != 0)
        reply_error(r, MERR_BAD_JSON, "%s", err);
    return rc;
}
