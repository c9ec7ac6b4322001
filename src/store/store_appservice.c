/* Application services: each service's position in the event stream and its queue of
 * transactions (so nothing is lost across restarts), and the services' room directories. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store.h"
#include "store/store_internal.h"

struct as_state {
    int64_t scanned, last_txn;
};

static void
fill_state(struct store *st, struct db_stmt *s, void *item)
{
    struct as_state *a = item;
    a->scanned = st->drv->col_int64(s, 0);
    a->last_txn = st->drv->col_int64(s, 1);
}

enum store_rc
store_appservice_state_get(struct store *st, const char *as_id, int64_t *scanned_pos,
                           int64_t *last_txn_id)
{
    struct as_state a = {0, 0};
    enum store_rc rc =
        st_read_one(st, "SELECT scanned_pos, last_txn_id FROM appservice_state WHERE as_id = ?",
                    ST_ARGS(ST_S(as_id)), fill_state, &a);
    *scanned_pos = a.scanned;
    *last_txn_id = a.last_txn;
    return rc;
}

#define STATE_UPSERT                                                                               \
    "INSERT INTO appservice_state (as_id, scanned_pos, last_txn_id) VALUES (?, ?, ?) "             \
    "ON CONFLICT (as_id) DO UPDATE SET scanned_pos = excluded.scanned_pos, "                       \
    "last_txn_id = excluded.last_txn_id"

enum store_rc
store_appservice_state_put(struct store *st, const char *as_id, int64_t scanned_pos,
                           int64_t last_txn_id)
{
    return ST_WRITE(st, ST_STEP(STATE_UPSERT, ST_S(as_id), ST_I(scanned_pos), ST_I(last_txn_id)));
}

enum store_rc
store_appservice_txn_enqueue(struct store *st, const char *as_id, int64_t txn_id, const char *body,
                             int64_t scanned_pos)
{
    return ST_WRITE(st,
                    ST_STEP("INSERT INTO appservice_txns (as_id, txn_id, body, created_ts) "
                            "VALUES (?, ?, ?, ?)",
                            ST_S(as_id), ST_I(txn_id), ST_S(body), ST_I(util_now_ms())),
                    ST_STEP(STATE_UPSERT, ST_S(as_id), ST_I(scanned_pos), ST_I(txn_id)));
}

struct as_txn {
    int64_t id;
    char *body;
};

static void
fill_txn(struct store *st, struct db_stmt *s, void *item)
{
    struct as_txn *t = item;
    t->id = st->drv->col_int64(s, 0);
    t->body = st_dup_col(st, s, 1);
}

enum store_rc
store_appservice_txn_first(struct store *st, const char *as_id, int64_t *txn_id, char **body)
{
    struct as_txn t = {0, NULL};
    enum store_rc rc = st_read_one(st,
                                   "SELECT txn_id, body FROM appservice_txns WHERE as_id = ? "
                                   "ORDER BY txn_id LIMIT 1",
                                   ST_ARGS(ST_S(as_id)), fill_txn, &t);
    *txn_id = t.id;
    *body = t.body;
    return rc;
}

enum store_rc
store_appservice_txn_delete(struct store *st, const char *as_id, int64_t txn_id)
{
    return ST_WRITE(st, ST_STEP("DELETE FROM appservice_txns WHERE as_id = ? AND txn_id = ?",
                                ST_S(as_id), ST_I(txn_id)));
}

static void
fill_event(struct store *st, struct db_stmt *s, void *item)
{
    struct store_event *e = item;
    e->event_id = st_dup_col(st, s, 0);
    e->room_id = st_dup_col(st, s, 1);
    e->type = st_dup_col(st, s, 2);
    e->state_key = st_dup_col(st, s, 3);
    e->sender = st_dup_col(st, s, 4);
    e->json = st_dup_col(st, s, 5);
    e->redacted_by = st_dup_col(st, s, 6);
    e->pos = st->drv->col_int64(s, 7);
    e->depth = st->drv->col_int64(s, 8);
    e->unsigned_json = st_dup_col(st, s, 9);
}

static void
clear_event(void *item)
{
    store_event_clear(item);
}

enum store_rc
store_appservice_events(struct store *st, int64_t after, int64_t upto, size_t limit,
                        struct store_event **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc = st_read_list(
        st,
        "SELECT event_id, room_id, type, state_key, sender, json, redacted_by, stream_pos, "
        "depth, unsigned_json FROM events WHERE stream_pos > ? AND stream_pos <= ? "
        "ORDER BY stream_pos LIMIT ?",
        ST_ARGS(ST_I(after), ST_I(upto), ST_I((int64_t)limit)), sizeof(**out), fill_event,
        clear_event, &list, n);
    *out = list;
    return rc;
}

enum store_rc
store_appservice_joined_at(struct store *st, const char *room_id, int64_t pos, char ***user_ids,
                           size_t *n)
{
    return st_read_texts(st,
                         "SELECT state_key FROM room_state WHERE room_id = ? AND "
                         "type = 'm.room.member' AND membership = 'join' AND from_pos <= ? AND "
                         "(to_pos IS NULL OR to_pos > ?) ORDER BY from_pos",
                         ST_ARGS(ST_S(room_id), ST_I(pos), ST_I(pos)), user_ids, n);
}

enum store_rc
store_appservice_room_list_set(struct store *st, const char *as_id, const char *network_id,
                               const char *room_id, bool listed)
{
    if (listed)
        return ST_WRITE(st, ST_STEP("INSERT INTO appservice_room_list (as_id, network_id, "
                                    "room_id) VALUES (?, ?, ?) ON CONFLICT (as_id, network_id, "
                                    "room_id) DO NOTHING",
                                    ST_S(as_id), ST_S(network_id), ST_S(room_id)));
    return ST_WRITE(st, ST_STEP("DELETE FROM appservice_room_list WHERE as_id = ? AND "
                                "network_id = ? AND room_id = ?",
                                ST_S(as_id), ST_S(network_id), ST_S(room_id)));
}

enum store_rc
store_appservice_room_list(struct store *st, const char *as_id, const char *network_id,
                           char ***room_ids, size_t *n)
{
    if (as_id && network_id)
        return st_read_texts(
            st,
            "SELECT DISTINCT room_id FROM appservice_room_list WHERE as_id = ? AND "
            "network_id = ? ORDER BY room_id",
            ST_ARGS(ST_S(as_id), ST_S(network_id)), room_ids, n);
    return st_read_texts(st, "SELECT DISTINCT room_id FROM appservice_room_list ORDER BY room_id",
                         ST_NOARGS, room_ids, n);
}
