/* tags.yaml, modules/tags.rst: a room's tags are its m.tag room account data, content
 * {"tags": {tag: {"order": n}}}, so sync delivers them like any room account data. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/hs.h"
#include "api/rooms_common.h"
#include "json/json.h"
#include "store/store.h"
#include "sync/notifier.h"

#define MAX_TAG_LEN 255

/* Tag changes read, modify and write the m.tag content: one at a time, so two tags put at
 * once both stay. */
static pthread_mutex_t tags_lock = PTHREAD_MUTEX_INITIALIZER;

static bool
own_room_or_reply(struct req *r)
{
    if (strcmp(r->params[0], r->user_id) != 0) {
        reply_error(r, MERR_FORBIDDEN, "Cannot access the tags of other users");
        return false;
    }
    return api_room_id_ok_or_reply(r, r->params[1]);
}

/* The room's tags object (new reference; {} when none), or NULL on storage failure. */
static json_t *
load_tags(struct req *r)
{
    char *text = NULL;
    enum store_rc rc =
        store_account_data_get(r->hs->store, r->user_id, r->params[1], "m.tag", &text);
    json_t *content, *tags;

    if (rc == STORE_NOT_FOUND)
        return json_object();
    if (rc != STORE_OK)
        return NULL;
    content = json_loads(text, 0, NULL);
    free(text);
    tags = json_object_get(content, "tags");
    tags = json_is_object(tags) ? json_copy(tags) : json_object();
    json_decref(content);
    return tags;
}

static int
save_tags(struct req *r, json_t *tags)
{
    const char *me = r->user_id;
    json_t *content = json_pack("{s:O}", "tags", tags);
    char *text = json_dump_compact(content);
    enum store_rc rc =
        store_account_data_put(r->hs->store, r->user_id, r->params[1], "m.tag", text, NULL);

    free(text);
    json_decref(content);
    if (rc != STORE_OK)
        return -1;
    notifier_notify(r->hs->notifier, &me, 1);
    return 0;
}

/* GET /_matrix/client/r0/user/{userId}/rooms/{roomId}/tags */
void
tags_get(struct req *r)
{
    json_t *tags;

    if (!own_room_or_reply(r))
        return;
    if (!(tags = load_tags(r))) {
        reply_internal(r, "tags load failed");
        return;
    }
    reply_json(r, 200, json_pack("{s:o}", "tags", tags));
}

/* PUT /_matrix/client/r0/user/{userId}/rooms/{roomId}/tags/{tag} */
void
tags_put(struct req *r)
{
    json_t *order = json_object_get(r->json, "order"), *tags;
    const char *tag = r->params[2];

    if (!own_room_or_reply(r))
        return;
    if (!*tag || strlen(tag) > MAX_TAG_LEN) {
        reply_error(r, MERR_INVALID_PARAM, "A tag is 1 to %d bytes", MAX_TAG_LEN);
        return;
    }
    /* SPEC: order is "a number in a range [0,1]"; its type is checked, the range is left to
     * clients, as Synapse does. */
    if (order && !json_is_number(order)) {
        reply_error(r, MERR_BAD_JSON, "order must be a number");
        return;
    }
    pthread_mutex_lock(&tags_lock);
    tags = load_tags(r);
    if (tags) {
        json_object_set(tags, tag, r->json);
        if (save_tags(r, tags) != 0) {
            json_decref(tags);
            tags = NULL;
        }
    }
    pthread_mutex_unlock(&tags_lock);
    if (!tags) {
        reply_internal(r, "tags store failed");
        return;
    }
    json_decref(tags);
    reply_empty(r);
}

/* DELETE /_matrix/client/r0/user/{userId}/rooms/{roomId}/tags/{tag} */
void
tags_delete(struct req *r)
{
    json_t *tags;
    int rc = 0;

    if (!own_room_or_reply(r))
        return;
    pthread_mutex_lock(&tags_lock);
    tags = load_tags(r);
    /* Deleting a tag the room does not have succeeds, as in Synapse. */
    if (tags && json_object_del(tags, r->params[2]) == 0)
        rc = save_tags(r, tags);
    pthread_mutex_unlock(&tags_lock);
    if (!tags || rc != 0) {
        json_decref(tags);
        reply_internal(r, "tags store failed");
        return;
    }
    json_decref(tags);
    reply_empty(r);
}
