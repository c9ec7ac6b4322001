/* Push (modules/push.rst): push rule documents, pushers, and the notifications each event
 * caused, per user. A notification row is written in its event's transaction (st_push_persist),
 * so the /sync that delivers an event already counts it. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "store/store_internal.h"

/* ---- notifications, in the event's write job ---- */

enum store_rc
st_push_persist(struct store *st, const char *room_id, const struct store_event_row *e, int64_t pos)
{
    enum store_rc rc = STORE_OK;

    for (size_t i = 0; i < e->npush && rc == STORE_OK; i++)
        rc = st_rc(st_run(st, st->writer,
                          "INSERT INTO push_actions (user_id, room_id, stream_pos, actions, "
                          "highlight) VALUES (?, ?, ?, ?, ?)",
                          ST_ARGS(ST_S(e->push[i].user_id), ST_S(room_id), ST_I(pos),
                                  ST_S(e->push[i].actions), ST_B(e->push[i].highlight))));
    /* SPEC: modules/push.rst: "When the user updates their read receipt (either by using the
     * API or by sending an event), notifications prior to and including that event MUST be
     * marked as read." */
    if (rc == STORE_OK)
        rc = st_rc(st_run(st, st->writer,
                          "INSERT INTO push_read (user_id, room_id, stream_pos) VALUES (?, ?, ?) "
                          "ON CONFLICT (user_id, room_id) DO UPDATE SET "
                          "stream_pos = excluded.stream_pos",
                          ST_ARGS(ST_S(e->sender), ST_S(room_id), ST_I(pos))));
    return rc;
}

/* The position up to which the user has read a room: their m.read receipt or their own last
 * event, whichever is later. A subquery over (user, room) bound twice each. */
#define READ_MARK                                                                                  \
    "(SELECT MAX(p) FROM (SELECT event_pos AS p FROM receipts WHERE room_id = ? AND "              \
    "receipt_type = 'm.read' AND user_id = ? UNION ALL SELECT stream_pos AS p FROM push_read "     \
    "WHERE room_id = ? AND user_id = ? UNION ALL SELECT 0 AS p) AS marks)"

struct counts {
    int64_t notifications, highlights;
};

static void
fill_counts(struct store *st, struct db_stmt *s, void *item)
{
    struct counts *c = item;
    c->notifications = st->drv->col_int64(s, 0);
    c->highlights = st->drv->col_int64(s, 1);
}

enum store_rc
store_push_counts(struct store *st, const char *user_id, const char *room_id, int64_t upto,
                  int64_t *notifications, int64_t *highlights)
{
    struct counts c = {0, 0};
    enum store_rc rc = st_read_one(
        st,
        "SELECT COUNT(*), COALESCE(SUM(highlight), 0) FROM push_actions WHERE user_id = ? AND "
        "room_id = ? AND stream_pos <= ? AND stream_pos > " READ_MARK,
        ST_ARGS(ST_S(user_id), ST_S(room_id), ST_I(upto), ST_S(room_id), ST_S(user_id),
                ST_S(room_id), ST_S(user_id)),
        fill_counts, &c);
    *notifications = c.notifications;
    *highlights = c.highlights;
    return rc == STORE_NOT_FOUND ? STORE_OK : rc;
}

enum store_rc
store_push_unread_total(struct store *st, const char *user_id, int64_t *count)
{
    struct counts c = {0, 0};
    enum store_rc rc = st_read_one(
        st,
        "SELECT COUNT(*), 0 FROM room_state m JOIN push_actions a ON a.user_id = m.state_key AND "
        "a.room_id = m.room_id WHERE m.state_key = ? AND m.type = 'm.room.member' AND "
        "m.to_pos IS NULL AND m.membership = 'join' AND a.stream_pos > "
        "(SELECT MAX(p) FROM (SELECT event_pos AS p FROM receipts r WHERE r.room_id = m.room_id "
        "AND r.receipt_type = 'm.read' AND r.user_id = m.state_key UNION ALL SELECT stream_pos AS "
        "p FROM push_read pr WHERE pr.room_id = m.room_id AND pr.user_id = m.state_key UNION ALL "
        "SELECT 0 AS p) AS marks)",
        ST_ARGS(ST_S(user_id)), fill_counts, &c);
    *count = c.notifications;
    return rc == STORE_NOT_FOUND ? STORE_OK : rc;
}

void
store_notifications_free(struct store_notification *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        store_event_clear(&list[i].event);
        free(list[i].actions);
    }
    free(list);
}

static void
fill_notification(struct store *st, struct db_stmt *s, void *item)
{
    struct store_notification *no = item;
    struct store_event *e = &no->event;
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
    no->actions = st_dup_col(st, s, 10);
    no->highlight = st->drv->col_int64(s, 11) != 0;
    no->ts = st->drv->col_int64(s, 12);
    no->read = st->drv->col_int64(s, 13) != 0;
}

static void
clear_notification(void *item)
{
    struct store_notification *no = item;
    store_event_clear(&no->event);
    free(no->actions);
}

enum store_rc
store_notifications(struct store *st, const char *user_id, int64_t before, bool only_highlight,
                    size_t limit, struct store_notification **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc = st_read_list(
        st,
        "SELECT e.event_id, e.room_id, e.type, e.state_key, e.sender, e.json, e.redacted_by, "
        "e.stream_pos, e.depth, e.unsigned_json, a.actions, a.highlight, e.origin_server_ts, "
        "CASE WHEN a.stream_pos <= (SELECT MAX(p) FROM (SELECT event_pos AS p FROM receipts r "
        "WHERE r.room_id = a.room_id AND r.receipt_type = 'm.read' AND r.user_id = a.user_id "
        "UNION ALL SELECT stream_pos AS p FROM push_read pr WHERE pr.room_id = a.room_id AND "
        "pr.user_id = a.user_id UNION ALL SELECT 0 AS p) AS marks) THEN 1 ELSE 0 END "
        "FROM push_actions a JOIN events e ON e.stream_pos = a.stream_pos "
        "WHERE a.user_id = ? AND a.stream_pos < ? AND a.highlight >= ? "
        "ORDER BY a.stream_pos DESC LIMIT ?",
        ST_ARGS(ST_S(user_id), ST_I(before), ST_I(only_highlight ? 1 : 0), ST_I((int64_t)limit)),
        sizeof(**out), fill_notification, clear_notification, &list, n);
    *out = list;
    return rc;
}

/* ---- push rules ---- */

static void
fill_doc(struct store *st, struct db_stmt *s, void *item)
{
    *(char **)item = st_dup_col(st, s, 0);
}

enum store_rc
store_push_rules_get(struct store *st, const char *user_id, char **doc)
{
    *doc = NULL;
    return st_read_one(st, "SELECT doc FROM push_rules WHERE user_id = ?", ST_ARGS(ST_S(user_id)),
                       fill_doc, doc);
}

struct edit_ctx {
    const char *user_id;
    store_push_edit_fn edit;
    void *ctx;
    int64_t pos;
};

static enum store_rc
edit_job(struct store *st, void *arg)
{
    struct edit_ctx *c = arg;
    struct db_stmt *s = NULL;
    char *old = NULL, *doc = NULL, *content = NULL;
    enum store_rc rc = STORE_ERR;
    enum db_rc r;

    if (st_prep(st, st->writer, &s, "SELECT doc FROM push_rules WHERE user_id = ?",
                ST_ARGS(ST_S(c->user_id))) != DB_OK)
        goto out;
    r = st->drv->step(s);
    if (r == DB_ROW)
        old = st_dup_col(st, s, 0);
    else if (r != DB_DONE)
        goto out;
    st->drv->finalize(s);
    s = NULL;
    rc = c->edit(c->ctx, old, &doc, &content);
    if (rc != STORE_OK)
        goto out;
    rc = STORE_ERR;
    if (st_run(st, st->writer,
               "INSERT INTO push_rules (user_id, doc) VALUES (?, ?) ON CONFLICT (user_id) DO "
               "UPDATE SET doc = excluded.doc",
               ST_ARGS(ST_S(c->user_id), ST_S(doc))) != DB_OK)
        goto out;
    /* The rules also live on as the m.push_rules account data, at a new position of that
     * stream, so the account data provider of /sync carries every change. */
    if (st_run(st, st->writer, "UPDATE counters SET value = value + 1 WHERE name = 'account_data'",
               ST_NOARGS) != DB_OK ||
        st_prep(st, st->writer, &s, "SELECT value FROM counters WHERE name = 'account_data'",
                ST_NOARGS) != DB_OK ||
        st->drv->step(s) != DB_ROW)
        goto out;
    c->pos = st->drv->col_int64(s, 0);
    rc = st_rc(st_run(st, st->writer,
                      "INSERT INTO account_data (user_id, room_id, type, content, stream_pos) "
                      "VALUES (?, '', 'm.push_rules', ?, ?) ON CONFLICT (user_id, room_id, type) "
                      "DO UPDATE SET content = excluded.content, stream_pos = excluded.stream_pos",
                      ST_ARGS(ST_S(c->user_id), ST_S(content), ST_I(c->pos))));
out:
    st->drv->finalize(s);
    free(old);
    free(doc);
    free(content);
    return rc;
}

enum store_rc
store_push_rules_edit(struct store *st, const char *user_id, store_push_edit_fn edit, void *ctx,
                      int64_t *pos)
{
    struct edit_ctx c = {user_id, edit, ctx, 0};
    enum store_rc rc = st_write(st, edit_job, &c);
    if (pos)
        *pos = c.pos;
    return rc;
}

/* ---- pushers ---- */

void
store_pushers_free(struct store_pusher *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct store_pusher *p = &list[i];
        free(p->user_id);
        free(p->device_id);
        free(p->kind);
        free(p->app_id);
        free(p->pushkey);
        free(p->app_display_name);
        free(p->device_display_name);
        free(p->profile_tag);
        free(p->lang);
        free(p->data);
    }
    free(list);
}

static enum store_rc
pushers_changed(struct store *st, enum store_rc rc)
{
    atomic_fetch_add(&st->pushers_gen, 1);
    return rc;
}

uint64_t
store_pushers_generation(struct store *st)
{
    return atomic_load(&st->pushers_gen);
}

enum store_rc
store_pusher_set(struct store *st, const struct store_pusher *p, bool append)
{
    /* SPEC: pusher.yaml append: "Otherwise, the homeserver must remove any other pushers with
     * the same App ID and pushkey for different users." */
    return pushers_changed(
        st,
        ST_WRITE(st,
                 ST_STEP("DELETE FROM pushers WHERE app_id = ? AND pushkey = ? AND user_id <> ? "
                         "AND ? = 0",
                         ST_S(p->app_id), ST_S(p->pushkey), ST_S(p->user_id), ST_B(append)),
                 ST_STEP("INSERT INTO pushers (user_id, device_id, kind, app_id, pushkey, "
                         "app_display_name, device_display_name, profile_tag, lang, data, "
                         "pushkey_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
                         "(app_id, pushkey, user_id) DO UPDATE SET device_id = "
                         "excluded.device_id, kind = excluded.kind, app_display_name = "
                         "excluded.app_display_name, device_display_name = "
                         "excluded.device_display_name, profile_tag = excluded.profile_tag, "
                         "lang = excluded.lang, data = excluded.data, pushkey_ts = "
                         "excluded.pushkey_ts",
                         ST_S(p->user_id), ST_S(p->device_id), ST_S(p->kind), ST_S(p->app_id),
                         ST_S(p->pushkey), ST_S(p->app_display_name), ST_S(p->device_display_name),
                         ST_S(p->profile_tag), ST_S(p->lang), ST_S(p->data), ST_I(p->pushkey_ts))));
}

enum store_rc
store_pusher_delete(struct store *st, const char *user_id, const char *app_id, const char *pushkey)
{
    return pushers_changed(
        st, ST_WRITE(st, ST_STEP("DELETE FROM pushers WHERE user_id = ? AND app_id = ? AND "
                                 "pushkey = ?",
                                 ST_S(user_id), ST_S(app_id), ST_S(pushkey))));
}

static void
fill_pusher(struct store *st, struct db_stmt *s, void *item)
{
    struct store_pusher *p = item;
    p->user_id = st_dup_col(st, s, 0);
    p->device_id = st_dup_col(st, s, 1);
    p->kind = st_dup_col(st, s, 2);
    p->app_id = st_dup_col(st, s, 3);
    p->pushkey = st_dup_col(st, s, 4);
    p->app_display_name = st_dup_col(st, s, 5);
    p->device_display_name = st_dup_col(st, s, 6);
    p->profile_tag = st_dup_col(st, s, 7);
    p->lang = st_dup_col(st, s, 8);
    p->data = st_dup_col(st, s, 9);
    p->pushkey_ts = st->drv->col_int64(s, 10);
}

static void
clear_pusher(void *item)
{
    struct store_pusher *p = item;
    free(p->user_id);
    free(p->device_id);
    free(p->kind);
    free(p->app_id);
    free(p->pushkey);
    free(p->app_display_name);
    free(p->device_display_name);
    free(p->profile_tag);
    free(p->lang);
    free(p->data);
}

#define PUSHER_COLS                                                                                \
    "user_id, device_id, kind, app_id, pushkey, app_display_name, device_display_name, "           \
    "profile_tag, lang, data, pushkey_ts"

enum store_rc
store_pushers_list(struct store *st, const char *user_id, struct store_pusher **out, size_t *n)
{
    void *list = NULL;
    enum store_rc rc;

    if (user_id)
        rc = st_read_list(st,
                          "SELECT " PUSHER_COLS " FROM pushers WHERE user_id = ? "
                          "ORDER BY app_id, pushkey",
                          ST_ARGS(ST_S(user_id)), sizeof(**out), fill_pusher, clear_pusher, &list,
                          n);
    else
        rc = st_read_list(st,
                          "SELECT " PUSHER_COLS " FROM pushers ORDER BY user_id, app_id, pushkey",
                          ST_NOARGS, sizeof(**out), fill_pusher, clear_pusher, &list, n);
    *out = list;
    return rc;
}
