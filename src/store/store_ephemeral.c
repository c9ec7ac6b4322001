/* Receipts (modules/receipts.rst): one row per (room, receipt type, user), at the receipts
 * stream position of its last change. Typing and presence live in memory (src/sync). */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store_internal.h"

struct receipt_ctx {
    const char *room_id, *user_id, *type, *event_id;
    int64_t event_pos, ts, pos;
};

static enum store_rc
receipt_job(struct store *st, void *arg)
{
    struct receipt_ctx *c = arg;
    struct db_stmt *s = NULL;
    enum store_rc rc = STORE_ERR;
    enum db_rc r;

    /* Receipts only move forward: one for an earlier (or the same) event is dropped, as
     * Synapse does, so a client replaying an old receipt cannot move the marker back. */
    if (st_prep(st, st->writer, &s,
                "SELECT event_pos FROM receipts WHERE room_id = ? AND receipt_type = ? AND "
                "user_id = ?",
                ST_ARGS(ST_S(c->room_id), ST_S(c->type), ST_S(c->user_id))) != DB_OK)
        goto out;
    r = st->drv->step(s);
    if (r == DB_ROW && st->drv->col_int64(s, 0) >= c->event_pos) {
        rc = STORE_EXISTS;
        goto out;
    }
    if (r != DB_ROW && r != DB_DONE)
        goto out;
    st->drv->finalize(s);
    s = NULL;
    if (st_run(st, st->writer, "UPDATE counters SET value = value + 1 WHERE name = 'receipts'",
               ST_NOARGS) != DB_OK ||
        st_prep(st, st->writer, &s, "SELECT value FROM counters WHERE name = 'receipts'",
                ST_NOARGS) != DB_OK ||
        st->drv->step(s) != DB_ROW)
        goto out;
    c->pos = st->drv->col_int64(s, 0);
    rc = st_rc(st_run(st, st->writer,
                      "INSERT INTO receipts (room_id, receipt_type, user_id, event_id, event_pos, "
                      "ts, stream_pos) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (room_id, "
                      "receipt_type, user_id) DO UPDATE SET event_id = excluded.event_id, "
                      "event_pos = excluded.event_pos, ts = excluded.ts, "
                      "stream_pos = excluded.stream_pos",
                      ST_ARGS(ST_S(c->room_id), ST_S(c->type), ST_S(c->user_id), ST_S(c->event_id),
                              ST_I(c->event_pos), ST_I(c->ts), ST_I(c->pos))));
    /* push (issue 8): SPEC: "notifications prior to and including that event MUST be marked
     * as read" */
    if (rc == STORE_OK && strcmp(c->type, "m.read") == 0)
        rc = st_push_mark_read(st, c->room_id, c->user_id, c->event_pos);
out:
    st->drv->finalize(s);
    return rc;
}

enum store_rc
store_receipt_put(struct store *st, const char *room_id, const char *user_id, const char *type,
                  const char *event_id, int64_t event_pos, int64_t ts, int64_t *pos)
{
    struct receipt_ctx c = {room_id, user_id, type, event_id, event_pos, ts, 0};
    enum store_rc rc = st_write(st, receipt_job, &c);
    if (pos)
        *pos = c.pos;
    return rc;
}

void
store_receipts_free(struct store_receipt *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].room_id);
        free(list[i].user_id);
        free(list[i].type);
        free(list[i].event_id);
    }
    free(list);
}

static enum store_rc
receipts_query(struct store *st, struct store_receipt **out, size_t *n, const char *sql,
               const struct st_arg *args, size_t nargs)
{
    struct db *db = st_reader_get(st);
    struct db_stmt *s = NULL;
    struct store_receipt *list = NULL;
    size_t len = 0, cap = 0;
    enum store_rc rc = STORE_ERR;
    enum db_rc r;

    *out = NULL;
    *n = 0;
    if (!db)
        return STORE_ERR;
    if (st_prep(st, db, &s, sql, args, nargs) != DB_OK)
        goto out;
    while ((r = st->drv->step(s)) == DB_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 8;
            list = xrealloc(list, cap * sizeof(*list));
        }
        list[len].room_id = st_dup_col(st, s, 0);
        list[len].user_id = st_dup_col(st, s, 1);
        list[len].type = st_dup_col(st, s, 2);
        list[len].event_id = st_dup_col(st, s, 3);
        list[len].ts = st->drv->col_int64(s, 4);
        len++;
    }
    if (r != DB_DONE) {
        store_receipts_free(list, len);
        goto out;
    }
    *out = list;
    *n = len;
    rc = STORE_OK;
out:
    st->drv->finalize(s);
    st_reader_put(st, db);
    return rc;
}

enum store_rc
store_receipts_for_user(struct store *st, const char *user_id, int64_t since, int64_t upto,
                        struct store_receipt **out, size_t *n)
{
    return receipts_query(
        st, out, n,
        "SELECT r.room_id, r.user_id, r.receipt_type, r.event_id, r.ts FROM room_state m "
        "JOIN receipts r ON r.room_id = m.room_id WHERE m.state_key = ? AND "
        "m.type = 'm.room.member' AND m.to_pos IS NULL AND m.membership = 'join' AND "
        "r.stream_pos > ? AND r.stream_pos <= ? ORDER BY r.stream_pos",
        ST_ARGS(ST_S(user_id), ST_I(since), ST_I(upto)));
}

enum store_rc
store_receipts_in_room(struct store *st, const char *room_id, int64_t upto,
                       struct store_receipt **out, size_t *n)
{
    return receipts_query(st, out, n,
                          "SELECT room_id, user_id, receipt_type, event_id, ts FROM receipts "
                          "WHERE room_id = ? AND stream_pos <= ? ORDER BY stream_pos",
                          ST_ARGS(ST_S(room_id), ST_I(upto)));
}
