/* users.yaml: the user directory. */
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "core/config.h"
#include "json/json.h"
#include "store/store.h"

#define DEFAULT_LIMIT 10
/* More than a client could show; larger requests are answered limited. */
#define MAX_LIMIT 1000

/* POST /_matrix/client/r0/user_directory/search */
void
users_directory_search(struct req *r)
{
    json_t *term = json_object_get(r->json, "search_term");
    json_t *lim = json_object_get(r->json, "limit"), *results;
    struct store_directory_entry *list = NULL;
    int64_t limit = DEFAULT_LIMIT;
    size_t n = 0;
    bool limited = false;

    if (!term) {
        reply_error(r, MERR_MISSING_PARAM, "search_term is required");
        return;
    }
    if (!json_is_string(term)) {
        reply_error(r, MERR_BAD_JSON, "search_term must be a string");
        return;
    }
    if (lim && !json_is_null(lim)) {
        if (!json_is_integer(lim) || json_integer_value(lim) < 0) {
            reply_error(r, MERR_BAD_JSON, "limit must be a non-negative integer");
            return;
        }
        limit = json_integer_value(lim);
    }
    if (limit > MAX_LIMIT)
        limit = MAX_LIMIT;
    /* SPEC: users.yaml: "MUST at a minimum consider the users the requesting user shares a
     * room with and those who reside in public rooms"; user_directory.search_all_users widens
     * it to every account, as in Synapse. */
    if (store_user_directory_search(r->hs->store, r->user_id, json_string_value(term),
                                    r->hs->cfg->user_directory_search_all_users, (size_t)limit,
                                    &list, &n, &limited) != STORE_OK) {
        reply_internal(r, "user directory search failed");
        return;
    }
    results = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_pack("{s:s}", "user_id", list[i].user_id);
        if (list[i].displayname)
            json_object_set_new(e, "display_name", json_string(list[i].displayname));
        if (list[i].avatar_url)
            json_object_set_new(e, "avatar_url", json_string(list[i].avatar_url));
        json_array_append_new(results, e);
    }
    store_directory_free(list, n);
    reply_json(r, 200, json_pack("{s:o, s:b}", "results", results, "limited", limited));
}
