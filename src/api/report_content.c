/* report_content.yaml: users report events to the server's administrators. */
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "api/visibility.h"
#include "core/log.h"
#include "json/json.h"
#include "store/store.h"

/* POST /_matrix/client/r0/rooms/{roomId}/report/{eventId} */
void
report_content_report(struct req *r)
{
    const char *room_id = r->params[0], *event_id = r->params[1], *reason;
    const json_t *score = json_object_get(r->json, "score");
    struct store_event e = {0};
    struct visibility vis = {0};
    bool wrong = false;
    enum store_rc rc;

    /* SPEC: v1.1 report_content.yaml (MSC2414): reason and score are optional now (r0.6.1
     * required both). */
    reason = json_get_str(r->json, "reason", &wrong);
    if (wrong) {
        reply_error(r, MERR_BAD_JSON, "reason must be a string");
        return;
    }
    if (score && !json_is_integer(score)) {
        reply_error(r, MERR_BAD_JSON, "score must be an integer");
        return;
    }
    /* SPEC: "-100 is most offensive and 0 is inoffensive" */
    if (score && (json_integer_value(score) < -100 || json_integer_value(score) > 0)) {
        reply_error(r, MERR_INVALID_PARAM, "score must be between -100 and 0");
        return;
    }
    if (!api_room_or_reply(r, room_id))
        return;
    rc = store_event_get(r->hs->store, event_id, &e);
    if (rc == STORE_ERR) {
        reply_internal(r, "event lookup failed");
        goto out;
    }
    if (rc == STORE_NOT_FOUND || strcmp(e.room_id, room_id) != 0) {
        reply_error(r, MERR_NOT_FOUND, "Event not found");
        goto out;
    }
    /* Reporting what one may not see would confirm that it exists: answer as if unknown. */
    if (visibility_load(r, room_id, r->user_id, &vis) != 0) {
        reply_internal(r, "visibility lookup failed");
        goto out;
    }
    if (!visibility_allows(&vis, &e)) {
        reply_error(r, MERR_NOT_FOUND, "Event not found");
        goto out;
    }
    if (store_report_add(r->hs->store, room_id, event_id, r->user_id, reason,
                         score ? json_integer_value(score) : 0, score != NULL) != STORE_OK) {
        reply_internal(r, "report insert failed");
        goto out;
    }
    log_info("%s reported %s in %s (score %lld)", r->user_id, event_id, room_id,
             score ? (long long)json_integer_value(score) : 0LL);
    reply_empty(r);
out:
    visibility_clear(&vis);
    store_event_clear(&e);
}
